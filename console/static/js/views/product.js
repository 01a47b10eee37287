/**
 * One product (`#/products/<id>`) or a new one (`#/products/new`).
 *
 * Everyone sees the product, its stock on hand, reserved and available, and the active
 * holds on it (a viewer only their own key's, as the API shows them), each of which can be
 * released. Admins also get: the edit form, saved with `If-Match` set to
 * the ETag the form was loaded with, so a concurrent change is refused (412) instead of
 * overwritten, and the operator is offered a reload; soft delete and restore; stock
 * adjustment with a reason; and the stock ledger, paged.
 */

import { ApiError, del, get, patch, post, request } from '../api.js';
import { button, confirmInline, el, field, message, replace, scrollRegion } from '../dom.js';
import { formatCents, formatTime } from '../format.js';
import { isAdmin } from '../session.js';
import { flash, navigate } from '../app.js';

const LEDGER_PAGE_SIZE = 20;
const HOLDS_PAGE_SIZE = 50;

export async function render(main, { params: [id] }) {
  if (id === 'new') {
    renderNew(main);
    return;
  }
  let loaded;
  try {
    loaded = await get(`/products/${id}`);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    renderMissing(main, id, error);
    return;
  }
  renderProduct(main, loaded.data, loaded.etag);
}

/** The writable fields as form controls, filled from `product` (or empty). */
function productInputs(product = {}) {
  return {
    sku: el('input', { name: 'sku', required: true, maxlength: '64', autocomplete: 'off', value: product.sku ?? '' }),
    name: el('input', { name: 'name', required: true, maxlength: '200', autocomplete: 'off', value: product.name ?? '' }),
    description: el('textarea', { name: 'description', rows: '3', maxlength: '5000', value: product.description ?? '' }),
    category: el('input', { name: 'category', maxlength: '100', autocomplete: 'off', value: product.category ?? '' }),
    price: el('input', { name: 'price', required: true, inputmode: 'decimal', pattern: '\\d{1,8}(\\.\\d{1,2})?', value: product.price_cents === undefined ? '' : (product.price_cents / 100).toFixed(2) }),
    low_stock_threshold: el('input', { name: 'low_stock_threshold', type: 'number', min: '0', step: '1', value: String(product.low_stock_threshold ?? 10) }),
  };
}

function productFields(inputs) {
  return [
    field('SKU', inputs.sku, 'Letters, digits, "-", "_" and "."; unique.'),
    field('Name', inputs.name),
    field('Description', inputs.description),
    field('Category', inputs.category),
    field('Price (USD)', inputs.price, 'For example 19.99.'),
    field('Low-stock threshold', inputs.low_stock_threshold),
  ];
}

/** The writable fields' values as the API takes them (price as a decimal string: exact). */
function productBody(inputs) {
  return {
    sku: inputs.sku.value.trim(),
    name: inputs.name.value.trim(),
    description: inputs.description.value,
    category: inputs.category.value.trim() || null,
    price: inputs.price.value.trim(),
    low_stock_threshold: Number.parseInt(inputs.low_stock_threshold.value, 10) || 0,
  };
}

function renderNew(main) {
  if (!isAdmin()) {
    replace(main, el('h1', { tabindex: '-1', text: 'New product' }), message('error', 'Creating products needs an admin key.'));
    return;
  }
  const inputs = productInputs();
  const stock = el('input', { name: 'stock_quantity', type: 'number', min: '0', step: '1', value: '0' });
  const feedback = el('div', { class: 'feedback' });
  const form = el('form', { class: 'card form' }, productFields(inputs), field('Initial stock', stock),
    el('button', { type: 'submit', text: 'Create product' }), feedback);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const body = { ...productBody(inputs), stock_quantity: Number.parseInt(stock.value, 10) || 0 };
      const { data } = await post('/products', body);
      flash(`Product "${data.name}" created.`, 'success', `#/products/${data.id}`);
      navigate(`#/products/${data.id}`);
    } catch (error) {
      replace(feedback, message('error', error.message));
    }
  });
  replace(main,
    el('p', { class: 'breadcrumb' }, el('a', { href: '#/products', text: 'Products' })),
    el('h1', { tabindex: '-1', text: 'New product' }), form);
}

/** A product the API does not show: unknown, or soft-deleted (which an admin may restore). */
function renderMissing(main, id, error) {
  const feedback = el('div', { class: 'feedback' });
  replace(main,
    el('p', { class: 'breadcrumb' }, el('a', { href: '#/products', text: 'Products' })),
    el('h1', { tabindex: '-1', text: `Product ${id}` }),
    message('error', `${error.message} It may have been deleted.`),
    isAdmin() ? button('Restore this product', async () => {
      try {
        await post(`/products/${id}/restore`);
        flash('Product restored.', 'success', location.hash);
        navigate(location.hash);
      } catch (restoreError) {
        replace(feedback, message('error', restoreError.message));
      }
    }) : null,
    feedback);
}

function renderProduct(main, product, etag) {
  const figures = {
    stock_quantity: el('dd', {}),
    reserved_quantity: el('dd', {}),
    available_quantity: el('dd', {}),
  };
  showFigures(figures, product);
  // Releasing a hold changes only the figures, so only they are read again: the edit
  // form, which the operator may be filling in, stays as it is.
  const refreshFigures = async () => showFigures(figures, (await get(`/products/${product.id}`)).data);
  const holds = el('section', { class: 'card', 'aria-labelledby': 'holds-title' },
    el('h2', { id: 'holds-title', text: isAdmin() ? 'Active holds' : 'Your active holds' }));
  replace(main,
    el('p', { class: 'breadcrumb' }, el('a', { href: '#/products', text: 'Products' })),
    el('h1', { tabindex: '-1', text: product.name }),
    el('dl', { class: 'facts' },
      el('dt', { text: 'SKU' }), el('dd', { text: product.sku }),
      el('dt', { text: 'Category' }), el('dd', { text: product.category ?? '—' }),
      el('dt', { text: 'Price' }), el('dd', { text: formatCents(product.price_cents) }),
      el('dt', { text: 'On hand' }), figures.stock_quantity,
      el('dt', { text: 'Reserved' }), figures.reserved_quantity,
      el('dt', { text: 'Available' }), figures.available_quantity,
      el('dt', { text: 'Low-stock threshold' }), el('dd', { text: String(product.low_stock_threshold) }),
      el('dt', { text: 'Updated' }), el('dd', { text: formatTime(product.updated_at) })),
    product.description ? el('p', { class: 'description', text: product.description }) : null,
    holds);
  if (!isAdmin()) return loadHolds(holds, product, refreshFigures);

  const ledger = el('section', { class: 'card wide', 'aria-labelledby': 'ledger-title' },
    el('h2', { id: 'ledger-title', text: 'Stock ledger' }));
  main.append(
    el('div', { class: 'grid' },
      editSection(main, product, etag),
      el('div', {}, stockSection(product, figures, () => loadLedger(ledger, product.id)), deleteSection(product))),
    ledger);
  return Promise.all([loadHolds(holds, product, refreshFigures), loadLedger(ledger, product.id)]);
}

/** Shows a product's (or a stock adjustment's) on hand, reserved and available figures. */
function showFigures(figures, stock) {
  for (const [name, figure] of Object.entries(figures)) figure.textContent = String(stock[name]);
}

/** The edit form, saved with If-Match: the ETag the form was filled from. */
function editSection(main, product, etag) {
  const inputs = productInputs(product);
  const feedback = el('div', { class: 'feedback' });
  let currentEtag = etag;
  const form = el('form', { class: 'form' }, productFields(inputs),
    el('button', { type: 'submit', text: 'Save changes' }), feedback);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const saved = await request('PATCH', `/products/${product.id}`, {
        body: productBody(inputs), headers: currentEtag ? { 'If-Match': currentEtag } : {},
      });
      currentEtag = saved.etag ?? currentEtag;
      flash('Changes saved.', 'success', location.hash);
      renderProduct(main, saved.data, currentEtag);
      main.querySelector('h1')?.focus();
    } catch (error) {
      const reload = error.status === 412
        ? button('Reload the product', () => navigate(location.hash))
        : null;
      replace(feedback, message('error', error.message, reload ? ' ' : null, reload));
      (reload ?? form.querySelector('button[type=submit]')).focus();
    }
  });
  return el('section', { class: 'card', 'aria-labelledby': 'edit-title' },
    el('h2', { id: 'edit-title', text: 'Edit' }), form);
}

/**
 * Stock adjustment: a signed change and a reason, recorded in the ledger. It changes what
 * is on hand; the API refuses to take it below what holds keep (409).
 */
function stockSection(product, figures, reloadLedger) {
  const adjust = el('input', { name: 'adjust', type: 'number', step: '1', required: true });
  const reason = el('input', { name: 'reason', maxlength: '200', autocomplete: 'off' });
  const feedback = el('div', { class: 'feedback' });
  const form = el('form', { class: 'form' },
    field('Change (+ adds, − removes)', adjust, 'A whole number other than 0.'),
    field('Reason', reason, 'Kept in the stock ledger, e.g. "recount" or "damaged".'),
    el('button', { type: 'submit', text: 'Adjust stock' }), feedback);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const change = Number.parseInt(adjust.value, 10);
    if (!Number.isInteger(change) || change === 0) {
      replace(feedback, message('error', 'Enter a whole number other than 0.'));
      adjust.focus();
      return;
    }
    try {
      const body = { adjust: change };
      if (reason.value.trim()) body.reason = reason.value.trim();
      const { data } = await patch(`/products/${product.id}/stock`, body);
      showFigures(figures, data);
      adjust.value = '';
      reason.value = '';
      replace(feedback, message('success', `Stock is now ${data.stock_quantity} on hand, ${data.available_quantity} available.`));
      await reloadLedger();
    } catch (error) {
      replace(feedback, message('error', error.message));
    }
  });
  return el('section', { class: 'card', 'aria-labelledby': 'stock-title' },
    el('h2', { id: 'stock-title', text: 'Adjust stock' }), form);
}

/** Soft delete; the product can be restored afterwards from the same page. */
function deleteSection(product) {
  const feedback = el('div', { class: 'feedback' });
  const remove = button('Delete product', () => confirmInline(remove, 'Delete this product? Orders keep their lines; it can be restored.',
    'Yes, delete', async () => {
      try {
        await del(`/products/${product.id}`);
        flash(`Product "${product.name}" deleted. You can restore it from this page.`, 'success', location.hash);
        navigate(location.hash);
      } catch (error) {
        replace(feedback, message('error', error.message));
      }
    }), { class: 'danger' });
  return el('section', { class: 'card', 'aria-labelledby': 'delete-title' },
    el('h2', { id: 'delete-title', text: 'Delete' }), remove, feedback);
}

/**
 * The active holds on the product, newest first, with "Load more" for the next pages.
 * Each can be released (after an in-page confirmation); whatever the API answers, the
 * list and the figures are read again, since a refused release (409: the hold expired,
 * or was released or converted meanwhile) means the list was out of date.
 */
async function loadHolds(section, product, refreshFigures) {
  const title = section.querySelector('h2');
  const feedback = section.querySelector('.feedback') ?? el('div', { class: 'feedback' });
  const body = el('tbody');
  const more = el('div', { class: 'paging' });
  const list = el('div', {}, el('p', { text: 'Loading…' }));
  replace(section, title, feedback, list);

  const release = async (reservation) => {
    let outcome;
    try {
      await del(`/reservations/${encodeURIComponent(reservation.id)}`);
      outcome = message('success', `Hold ${reservation.id} released: its units are available again.`);
    } catch (error) {
      outcome = message('error', error.message);
    }
    try {
      await Promise.all([loadHolds(section, product, refreshFigures), refreshFigures()]);
    } catch (error) {
      outcome = message('error', outcome.textContent, ' ', error.message);
    }
    // The clicked button went with the old list: focus moves to the outcome instead.
    outcome.setAttribute('tabindex', '-1');
    replace(feedback, outcome);
    outcome.focus();
  };

  const row = (reservation) => {
    // The API lists only holds with a line for this product (`product_id`).
    const line = reservation.items.find((item) => item.product_id === product.id);
    const others = reservation.items.length - 1;
    const alsoHeld = others > 0 ? `also holds ${others} other product${others === 1 ? '' : 's'}` : null;
    // Releasing frees every line of the hold, not just this product's: the question says so.
    const trigger = button('Release', () => confirmInline(trigger,
      alsoHeld ? `Release this hold? It ${alsoHeld}, released with it.` : 'Release this hold?',
      'Yes, release', () => {
        trigger.disabled = true;
        release(reservation);
      }),
    { class: 'danger', 'aria-label': `Release hold ${reservation.id}` });
    // When it was made goes under the id rather than in a column: five columns do not fit
    // a phone's width, and the Release button should stay in sight.
    return el('tr', {},
      el('td', {}, el('span', { class: 'mono', text: reservation.id }),
        el('span', { class: 'subline', text: `made ${formatTime(reservation.created_at)}` }),
        alsoHeld ? el('span', { class: 'subline', text: alsoHeld }) : null),
      el('td', { text: String(line.quantity) }),
      el('td', { text: formatTime(reservation.expires_at, { seconds: true }) }),
      el('td', {}, trigger));
  };

  const caption = isAdmin() ? 'Holds on this product, newest first'
    : 'Holds your key made on this product, newest first';
  const loadPage = async (cursor) => {
    try {
      const page = await get('/reservations', {
        status: 'active', product_id: product.id, cursor, limit: HOLDS_PAGE_SIZE,
      });
      if (!cursor && page.data.length === 0) {
        replace(list, el('p', { text: isAdmin() ? 'No active holds.' : 'You have no active holds on this product.' }));
        return;
      }
      if (!cursor) {
        replace(list, scrollRegion(caption,
          el('table', {}, el('caption', { text: caption }),
            el('thead', {}, el('tr', {}, ['Hold', 'Units', 'Expires', 'Action'].map((text) => el('th', { scope: 'col', text })))),
            body)), more);
      }
      body.append(...page.data.map(row));
      replace(more, page.next ? button('Load more holds', () => loadPage(page.next)) : null);
    } catch (error) {
      replace(cursor ? more : list, message('error', error.message));
    }
  };
  await loadPage('');
}

/** The ledger's first page, with "Load more" appending the next ones. */
async function loadLedger(section, productId) {
  const title = section.querySelector('h2');
  const body = el('tbody');
  const more = el('div', { class: 'paging' });
  const caption = 'Every stock change, oldest first';
  replace(section, title, scrollRegion(caption,
    el('table', {}, el('caption', { text: caption }),
      el('thead', {}, el('tr', {}, ['When', 'Kind', 'Change', 'Stock after', 'Reason', 'Order'].map((text) => el('th', { scope: 'col', text })))),
      body)), more);
  const loadPage = async (cursor) => {
    try {
      const page = await get(`/products/${productId}/stock-movements`, { cursor, limit: LEDGER_PAGE_SIZE });
      for (const movement of page.data) {
        body.append(el('tr', {},
          el('td', { text: formatTime(movement.created_at) }),
          el('td', { text: movement.kind }),
          el('td', { text: movement.delta > 0 ? `+${movement.delta}` : String(movement.delta) }),
          el('td', { text: String(movement.stock_after) }),
          el('td', { text: movement.reason ?? '' }),
          el('td', {}, movement.order_id ? el('a', { href: `#/orders/${encodeURIComponent(movement.order_id)}`, text: movement.order_id }) : '')));
      }
      replace(more, page.next ? button('Load more', () => loadPage(page.next)) : null);
    } catch (error) {
      replace(more, message('error', error.message));
    }
  };
  await loadPage('');
}
