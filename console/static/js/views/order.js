/**
 * One order: its lines and history, and the workflow actions the key's role allows.
 * Admins confirm (pending), ship (confirmed) and cancel; viewers may only cancel, and
 * only their own orders (the only ones the API shows them). A refused action (409, 429,
 * 503…) is reported next to the buttons and the order is shown as the server has it.
 */

import { get, patch, post } from '../api.js';
import { button, confirmInline, el, message, replace, table } from '../dom.js';
import { formatCents, formatTime } from '../format.js';
import { isAdmin } from '../session.js';

export async function render(main, { params: [id] }) {
  const orderId = decodeURIComponent(id);
  const { data: order } = await get(`/orders/${encodeURIComponent(orderId)}`);
  show(main, order);
}

function show(main, order, feedback = null) {
  const path = `/orders/${encodeURIComponent(order.id)}`;
  const status = el('div', { class: 'feedback' }, feedback);
  const actions = el('div', { class: 'actions', role: 'group', 'aria-label': 'Order actions' });

  // Runs one workflow call; on success the page shows the order the API returned.
  const act = async (control, call, done) => {
    control.disabled = true;
    replace(status, message('info', 'Working…'));
    try {
      const { data } = await call();
      show(main, data, message('success', done));
      // The clicked button is gone with the old page; focus the outcome instead, so
      // keyboard users continue from there.
      const outcome = main.querySelector('.feedback .message');
      outcome?.setAttribute('tabindex', '-1');
      outcome?.focus();
    } catch (error) {
      replace(status, message('error', error.message));
      control.disabled = false;
      control.focus();
    }
  };

  if (isAdmin() && order.status === 'pending') {
    const confirm = button('Confirm order', () => act(confirm,
      () => patch(`${path}/status`, { status: 'confirmed' }), 'Order confirmed.'));
    actions.append(confirm, ' ');
  }
  if (isAdmin() && order.status === 'confirmed') {
    const ship = button('Mark as shipped', () => act(ship,
      () => patch(`${path}/status`, { status: 'shipped' }), 'Order marked as shipped.'));
    actions.append(ship, ' ');
  }
  if (order.status === 'pending' || order.status === 'confirmed') {
    const cancel = button('Cancel order', () => confirmInline(cancel, 'Cancel this order and put its stock back?',
      'Yes, cancel order', () => act(cancel, () => post(`${path}/cancel`), 'Order cancelled; its stock was put back.')),
    { class: 'danger' });
    actions.append(cancel);
  }
  if (!actions.firstChild) {
    actions.append(el('p', { class: 'hint', text: `A ${order.status} order has no further steps.` }));
  }

  replace(main,
    el('p', { class: 'breadcrumb' }, el('a', { href: '#/orders', text: 'Orders' })),
    el('h1', { tabindex: '-1' }, 'Order ', el('span', { class: 'mono', text: order.id })),
    el('dl', { class: 'facts' },
      el('dt', { text: 'Status' }), el('dd', {}, el('span', { class: `status status-${order.status}`, text: order.status })),
      el('dt', { text: 'Customer' }), el('dd', { text: `${order.customer_name} <${order.customer_email}>` }),
      el('dt', { text: 'Total' }), el('dd', { text: formatCents(order.total_cents) }),
      el('dt', { text: 'Created' }), el('dd', { text: formatTime(order.created_at) }),
      el('dt', { text: 'Updated' }), el('dd', { text: formatTime(order.updated_at) })),
    // The outcome comes before the buttons: focus moves to it after an action, and the
    // next Tab reaches the next step.
    status,
    actions,
    table('Lines', ['Product', 'SKU', 'Quantity', 'Unit price', 'Line total'],
      order.items.map((item) => [
        el('a', { href: `#/products/${item.product_id}`, class: 'wrap-anywhere', text: item.name }),
        item.sku, String(item.quantity), formatCents(item.unit_price_cents), formatCents(item.line_total_cents),
      ])),
    el('h2', { text: 'History' }),
    el('ol', { class: 'history' }, order.history.map((entry) =>
      el('li', {}, el('span', { class: `status status-${entry.status}`, text: entry.status }), ' ', formatTime(entry.at)))));
}

