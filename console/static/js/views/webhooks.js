/**
 * Webhooks (admins only): where the API sends its events, and what it sent.
 *
 * `#/webhooks` lists the endpoints, creates one (its signing secret is shown once: the
 * API returns it only in that response) and shows the latest events. `#/webhooks/<id>`
 * is one endpoint: enable or disable it, rotate its secret (the new one is shown once),
 * delete it, and its deliveries, newest first, each of which can be sent again. "Run due
 * deliveries now" asks the API to make every delivery that is due, as a scheduler would.
 */

import { ApiError, del, get, patch, post } from '../api.js';
import { button, confirmInline, copyControls, el, field, message, replace, scrollRegion, table, uniqueId } from '../dom.js';
import { formatTime } from '../format.js';
import { flash, navigate } from '../app.js';

/** The event types the API sends; an endpoint takes some of them, or all (`*`). */
const EVENT_TYPES = ['order.created', 'order.status_changed', 'order.cancelled', 'stock.low',
  'product.created', 'product.updated', 'product.deleted'];
const ALL_EVENTS = '*';
const DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'];
const DELIVERIES_PAGE_SIZE = 20;
const RECENT_EVENTS = 20;

export async function render(main, { params: [id] }) {
  if (id === undefined) {
    await renderList(main);
  } else {
    await renderEndpoint(main, id);
  }
}

/** The endpoints, the form for a new one, and the latest events. */
async function renderList(main) {
  const endpoints = el('section', { 'aria-labelledby': 'webhooks-list-title' },
    el('h2', { id: 'webhooks-list-title', text: 'Endpoints' }), el('p', { text: 'Loading…' }));
  const events = el('section', { class: 'card', 'aria-labelledby': 'events-title' },
    el('h2', { id: 'events-title', text: 'Recent events' }), el('p', { text: 'Loading…' }));
  replace(main,
    el('h1', { tabindex: '-1', text: 'Webhooks' }),
    el('p', { class: 'hint', text: 'The API posts each event to every enabled endpoint that takes its type, signed with the endpoint\'s secret, and retries failed deliveries with growing delays.' }),
    createForm(() => loadEndpoints(endpoints)), endpoints, events);
  // The events load on their own: if they fail, the endpoints are still shown.
  await Promise.all([loadEndpoints(endpoints), loadEvents(events)]);
}

/** The form for a new endpoint; its secret is shown below it, once. */
function createForm(reloadList) {
  const url = el('input', { name: 'url', type: 'url', required: true, maxlength: '2048', autocomplete: 'off', spellcheck: 'false' });
  const description = el('input', { name: 'description', maxlength: '500', autocomplete: 'off' });
  const types = eventTypeChoice();
  const created = el('div', { class: 'feedback' });
  const form = el('form', { class: 'form card' },
    el('h2', { text: 'New endpoint' }),
    field('URL', url, 'https:// only (http:// to 127.0.0.1 or localhost only where the server allows it, for local development).'),
    types.fieldset,
    field('Description', description, 'Optional, e.g. "warehouse system".'),
    el('button', { type: 'submit', text: 'Create endpoint' }), created);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const chosen = types.selected();
    if (chosen.length === 0) {
      replace(created, message('error', 'Choose at least one event type, or all of them.'));
      types.focus();
      return;
    }
    let endpoint;
    try {
      const body = { url: url.value.trim(), events: chosen };
      if (description.value.trim()) body.description = description.value.trim();
      ({ data: endpoint } = await post('/webhooks', body));
    } catch (error) {
      replace(created, message('error', error.message));
      return;
    }
    url.value = '';
    description.value = '';
    types.reset();
    replace(created, secretBox(endpoint.secret, 'Signing secret',
      `Endpoint ${endpoint.id} created for ${endpoint.url}.`));
    created.querySelector('input')?.focus();
    // The secret stays on screen even if the list cannot be reloaded.
    try {
      await reloadList();
    } catch (error) {
      created.append(message('error', error.message));
    }
  });
  return form;
}

/**
 * Checkboxes for the event types: "all" (the default, which also takes types added
 * later) or any of them. Returns the fieldset and what is chosen, as the API takes it.
 */
function eventTypeChoice() {
  const all = el('input', { type: 'checkbox', name: 'events-all', id: uniqueId('events-all'), checked: true });
  const boxes = EVENT_TYPES.map((type) =>
    el('input', { type: 'checkbox', name: 'events', value: type, id: uniqueId('event-type'), disabled: true }));
  const sync = () => boxes.forEach((box) => { box.disabled = all.checked; });
  all.addEventListener('change', sync);
  const choice = (input, label) => el('div', { class: 'field checkbox' }, input, el('label', { for: input.id, text: label }));
  const fieldset = el('fieldset', { class: 'choices' },
    el('legend', { text: 'Events' }),
    choice(all, 'All event types (also ones added later)'),
    el('div', { class: 'choice-list' }, boxes.map((box) => choice(box, box.value))));
  return {
    fieldset,
    selected: () => (all.checked ? [ALL_EVENTS] : boxes.filter((box) => box.checked).map((box) => box.value)),
    reset: () => {
      all.checked = true;
      boxes.forEach((box) => { box.checked = false; });
      sync();
    },
    focus: () => all.focus(),
  };
}

/** A secret the API shows once, in a read-only field with a copy button. */
function secretBox(secret, label, intro) {
  const input = el('input', { type: 'text', readonly: true, class: 'mono', value: secret, autocomplete: 'off', spellcheck: 'false' });
  return message('success',
    el('p', {}, intro, ' ', el('strong', { text: 'The signing secret is shown only once:' }),
      ' copy it now to the system that receives the deliveries (it checks the webhook-signature header with it). If it is lost, rotate it.'),
    field(label, input), copyControls(input, 'Copy secret'));
}

async function loadEndpoints(section) {
  const title = section.querySelector('h2');
  const { data, next } = await get('/webhooks', { limit: 200 });
  const rows = data.map((endpoint) => [
    String(endpoint.id),
    el('a', { href: `#/webhooks/${endpoint.id}`, class: 'mono', text: endpoint.url }),
    eventsText(endpoint.events),
    enabledBadge(endpoint.enabled),
    endpoint.description ?? '',
    formatTime(endpoint.created_at),
  ]);
  replace(section, title,
    rows.length === 0 ? el('p', { text: 'No endpoints yet.' })
      : table('Endpoints, oldest first', ['Id', 'URL', 'Events', 'State', 'Description', 'Created'], rows),
    next ? el('p', { class: 'hint', text: 'Showing the first 200 endpoints.' }) : null);
}

/** The latest events, linked to what they are about. */
async function loadEvents(section) {
  const title = section.querySelector('h2');
  try {
    const { data } = await get('/events', { limit: RECENT_EVENTS });
    replace(section, title, data.length === 0 ? el('p', { text: 'No events yet.' })
      : table('Events, newest first', ['When', 'Type', 'About', 'Event id'], data.map((event) => [
        formatTime(event.created_at, { seconds: true }),
        event.type,
        eventSubject(event),
        el('span', { class: 'mono', text: event.id }),
      ])));
  } catch (error) {
    replace(section, title, message('error', error.message));
    if (error.status === 401) throw error;
  }
}

/** A link to the order or product an event is about (its `data`). */
function eventSubject(event) {
  const data = event.data ?? {};
  if (data.id === undefined || data.id === null) return '';
  if (event.type.startsWith('order.')) {
    return el('a', { href: `#/orders/${encodeURIComponent(data.id)}`, class: 'mono', text: data.id });
  }
  return el('a', { href: `#/products/${encodeURIComponent(data.id)}`, text: data.name ?? `Product ${data.id}` });
}

function eventsText(events) {
  return events.includes(ALL_EVENTS) ? 'All' : events.join(', ');
}

function enabledBadge(enabled) {
  return el('span', { class: enabled ? 'badge badge-success' : 'badge badge-warning', text: enabled ? 'enabled' : 'disabled' });
}

function breadcrumb() {
  return el('p', { class: 'breadcrumb' }, el('a', { href: '#/webhooks', text: 'Webhooks' }));
}

/** One endpoint: its settings, actions and deliveries. */
async function renderEndpoint(main, id) {
  let endpoint;
  try {
    ({ data: endpoint } = await get(`/webhooks/${id}`));
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    replace(main, breadcrumb(), el('h1', { tabindex: '-1', text: `Webhook endpoint ${id}` }),
      message('error', `${error.message} It may have been deleted.`));
    return;
  }
  const facts = el('div');
  const feedback = el('div', { class: 'feedback' });
  const actions = el('div', { class: 'actions', role: 'group', 'aria-label': 'Endpoint actions' });
  const deliveries = el('section', { class: 'card', 'aria-labelledby': 'deliveries-title' },
    el('h2', { id: 'deliveries-title', text: 'Deliveries' }));

  // Shows `current` (as the API last returned it) and the actions it allows.
  const show = (current) => {
    replace(facts, endpointFacts(current));
    replace(actions, endpointActions(current, show, feedback));
  };
  show(endpoint);
  replace(main, breadcrumb(), el('h1', { tabindex: '-1', text: `Webhook endpoint ${endpoint.id}` }),
    facts, feedback, actions, deliveries);
  await loadDeliveries(deliveries, endpoint.id);
}

function endpointFacts(endpoint) {
  return el('dl', { class: 'facts' },
    el('dt', { text: 'URL' }), el('dd', { class: 'mono', text: endpoint.url }),
    el('dt', { text: 'Events' }), el('dd', { text: eventsText(endpoint.events) }),
    el('dt', { text: 'State' }), el('dd', {}, enabledBadge(endpoint.enabled)),
    el('dt', { text: 'Description' }), el('dd', { text: endpoint.description ?? '—' }),
    el('dt', { text: 'Created' }), el('dd', { text: formatTime(endpoint.created_at) }),
    el('dt', { text: 'Updated' }), el('dd', { text: formatTime(endpoint.updated_at) }));
}

/** Enable/disable, rotate the secret, delete. Outcomes go to `feedback`, above the buttons. */
function endpointActions(endpoint, show, feedback) {
  const path = `/webhooks/${endpoint.id}`;
  const toggle = button(endpoint.enabled ? 'Disable endpoint' : 'Enable endpoint', async () => {
    toggle.disabled = true;
    try {
      const { data } = await patch(path, { enabled: !endpoint.enabled });
      show(data);
      replace(feedback, message('success', data.enabled ? 'Endpoint enabled.' : 'Endpoint disabled.'));
      // The clicked button was replaced by its opposite; keep focus there.
      feedback.parentElement?.querySelector('.actions button')?.focus();
    } catch (error) {
      replace(feedback, message('error', error.message));
      toggle.disabled = false;
    }
  }, { class: 'secondary' });

  const rotate = button('Rotate secret', () => confirmInline(rotate,
    'Rotate the signing secret? The current one stops signing at once.', 'Yes, rotate', async () => {
      try {
        const { data } = await post(`${path}/rotate-secret`);
        show(data);
        replace(feedback, secretBox(data.secret, 'New signing secret',
          'The secret was rotated; deliveries are signed with the new one from now on.'));
        feedback.querySelector('input')?.focus();
      } catch (error) {
        replace(feedback, message('error', error.message));
      }
    }), { class: 'secondary' });

  const remove = button('Delete endpoint', () => confirmInline(remove,
    'Delete this endpoint? Deliveries not yet made to it are dropped.', 'Yes, delete', async () => {
      try {
        await del(path);
        flash(`Webhook endpoint ${endpoint.id} deleted.`, 'success', '#/webhooks');
        navigate('#/webhooks');
      } catch (error) {
        replace(feedback, message('error', error.message));
      }
    }), { class: 'danger' });

  return [toggle, ' ', rotate, ' ', remove];
}

/** The deliveries with a status filter, "Load more", and the buttons that make them. */
async function loadDeliveries(section, endpointId) {
  const title = section.querySelector('h2');
  const status = el('select', { name: 'status' },
    el('option', { value: '', text: 'All statuses' }),
    DELIVERY_STATUSES.map((value) => el('option', { value, text: value })));
  const outcome = el('div', { class: 'feedback' });
  const results = el('div', { class: 'results' });
  const reload = () => showDeliveries(results, endpointId, status.value, outcome);

  const filter = el('form', { class: 'filters', role: 'search', 'aria-label': 'Filter deliveries' },
    field('Status', status), el('button', { type: 'submit', text: 'Show' }));
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    reload();
  });
  const run = button('Run due deliveries now', async () => {
    run.disabled = true;
    replace(outcome, message('info', 'Running the due deliveries…'));
    try {
      const { data } = await post('/webhooks/deliveries/run');
      replace(outcome, message('success',
        `Due deliveries of every endpoint run: ${data.attempted} attempted, ${data.succeeded} succeeded, ${data.failed} failed.`));
      await reload();
    } catch (error) {
      replace(outcome, message('error', error.message));
    } finally {
      run.disabled = false;
    }
  });
  const refresh = button('Refresh deliveries', reload, { class: 'secondary' });

  replace(section, title,
    el('p', { class: 'hint', text: 'One delivery per event sent to this endpoint. The first attempt is made right after the event; failed ones are retried later, or at once with "Run due deliveries now".' }),
    filter, el('div', { class: 'actions' }, run, ' ', refresh), outcome, results);
  await reload();
}

/** The first page of deliveries (with `status`, if any), and "Load more" for the next ones. */
async function showDeliveries(results, endpointId, status, outcome) {
  const body = el('tbody');
  const more = el('div', { class: 'paging' });
  const caption = status ? `Deliveries with status ${status}, newest first` : 'Deliveries, newest first';
  const headers = ['Id', 'Event', 'Status', 'Attempts', 'Last status code', 'Last error', 'Next attempt', 'Updated', 'Action'];
  const loadPage = async (cursor) => {
    const page = await get(`/webhooks/${endpointId}/deliveries`, { status, cursor, limit: DELIVERIES_PAGE_SIZE });
    for (const delivery of page.data) body.append(deliveryRow(endpointId, delivery, outcome, () => showDeliveries(results, endpointId, status, outcome)));
    replace(more, page.next ? button('Load more', async () => {
      try {
        await loadPage(page.next);
      } catch (error) {
        replace(more, message('error', error.message));
      }
    }) : null);
    return page.data.length;
  };
  try {
    const shown = await loadPage('');
    replace(results, shown === 0
      ? el('p', { text: status ? `No ${status} deliveries.` : 'No deliveries yet.' })
      : [scrollRegion(caption, el('table', {}, el('caption', { text: caption }),
        el('thead', {}, el('tr', {}, headers.map((text) => el('th', { scope: 'col', text })))), body)), more]);
  } catch (error) {
    replace(results, message('error', error.message));
  }
}

function deliveryRow(endpointId, delivery, outcome, reload) {
  const redeliver = button('Redeliver', async () => {
    redeliver.disabled = true;
    try {
      await post(`/webhooks/${endpointId}/deliveries/${delivery.id}/retry`);
      replace(outcome, message('success',
        `Delivery ${delivery.id} is due again now and will be sent with the same webhook-id (${delivery.event_id}). "Refresh deliveries" shows how it went.`));
      await reload();
      // The clicked button is gone with the old rows; continue from the outcome.
      const shown = outcome.querySelector('.message');
      shown?.setAttribute('tabindex', '-1');
      shown?.focus();
    } catch (error) {
      replace(outcome, message('error', error.message));
      redeliver.disabled = false;
    }
  }, { 'aria-label': `Redeliver delivery ${delivery.id} (${delivery.event_type})` });
  return el('tr', {},
    el('td', { text: String(delivery.id) }),
    el('td', {}, delivery.event_type, el('br'), el('span', { class: 'mono hint', text: delivery.event_id })),
    el('td', {}, el('span', { class: `status status-${delivery.status}`, text: delivery.status })),
    el('td', { text: String(delivery.attempts) }),
    el('td', { text: delivery.last_status_code === null ? '—' : String(delivery.last_status_code) }),
    el('td', { text: delivery.last_error ?? '' }),
    el('td', { text: delivery.next_attempt_at ? formatTime(delivery.next_attempt_at, { seconds: true }) : '—' }),
    el('td', { text: formatTime(delivery.updated_at, { seconds: true }) }),
    el('td', {}, redeliver));
}
