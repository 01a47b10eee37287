/**
 * The order list: a status filter and cursor paging. The filter and the cursor live in
 * the route (`#/orders?status=pending&cursor=...`), so back and forward step through
 * pages; viewers see only their own orders (the API filters, the page does not).
 */

import { get } from '../api.js';
import { el, field, replace, table } from '../dom.js';
import { formatCents, formatTime } from '../format.js';
import { navigate } from '../app.js';

export const STATUSES = ['pending', 'confirmed', 'shipped', 'cancelled'];
const PAGE_SIZE = 20;

export async function render(main, { query }) {
  const status = query.get('status') ?? '';
  const cursor = query.get('cursor') ?? '';
  const statusSelect = el('select', { name: 'status' },
    el('option', { value: '', text: 'All statuses' }),
    STATUSES.map((value) => el('option', { value, text: value, selected: value === status })));
  const filter = el('form', { class: 'filters', role: 'search', 'aria-label': 'Filter orders' },
    field('Status', statusSelect),
    el('button', { type: 'submit', text: 'Show' }));
  filter.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(statusSelect.value ? `#/orders?status=${encodeURIComponent(statusSelect.value)}` : '#/orders');
  });

  const results = el('div', { class: 'results' }, el('p', { text: 'Loading…' }));
  replace(main, el('h1', { tabindex: '-1', text: 'Orders' }), filter, results);

  const page = await get('/orders', { status, cursor, limit: PAGE_SIZE });
  const rows = page.data.map((order) => [
    el('a', { href: `#/orders/${encodeURIComponent(order.id)}`, text: order.id }),
    order.customer_name,
    el('span', { class: `status status-${order.status}`, text: order.status }),
    formatCents(order.total_cents),
    formatTime(order.created_at),
  ]);
  const paging = el('nav', { class: 'paging', 'aria-label': 'Pages' },
    cursor ? el('a', { href: status ? `#/orders?status=${encodeURIComponent(status)}` : '#/orders', text: 'First page' }) : null,
    page.next ? el('a', { href: `#/orders?${new URLSearchParams({ ...(status ? { status } : {}), cursor: page.next })}`, text: 'Next page' }) : null);
  replace(results,
    page.data.length === 0
      ? el('p', { text: status ? `No ${status} orders.` : 'No orders.' })
      : table(status ? `Orders with status ${status}` : 'All orders', ['Order', 'Customer', 'Status', 'Total', 'Created'], rows),
    paging);
}
