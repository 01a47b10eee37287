/**
 * The dashboard. Admins see stock below threshold, sales for today and the last 7 and
 * 30 days, revenue per day, and the top products; reports are admin-only in the API, so
 * viewers instead get what their role can do: their own recent orders and product search.
 */

import { get } from '../api.js';
import { barChart } from '../chart.js';
import { el, message, replace, table } from '../dom.js';
import { formatCents, formatTime, rfc3339, utcMidnight } from '../format.js';
import { currentIdentity, isAdmin } from '../session.js';

export async function render(main) {
  const heading = el('h1', { tabindex: '-1', text: 'Dashboard' });
  if (!isAdmin()) {
    await renderViewer(main, heading);
    return;
  }
  const lowStock = el('section', { class: 'card', 'aria-labelledby': 'low-stock-title' },
    el('h2', { id: 'low-stock-title', text: 'Stock below threshold' }), el('p', { text: 'Loading…' }));
  const sales = el('section', { class: 'card wide', 'aria-labelledby': 'sales-title' },
    el('h2', { id: 'sales-title', text: 'Sales' }), el('p', { text: 'Loading…' }));
  const series = el('section', { class: 'card wide', 'aria-labelledby': 'series-title' },
    el('h2', { id: 'series-title', text: 'Revenue per day, last 30 days' }), el('p', { text: 'Loading…' }));
  const top = el('section', { class: 'card', 'aria-labelledby': 'top-title' },
    el('h2', { id: 'top-title', text: 'Top products, last 30 days' }), el('p', { text: 'Loading…' }));
  replace(main, heading, el('div', { class: 'grid' }, sales, series, lowStock, top));

  // Each panel loads on its own: one failing report does not blank the others.
  await Promise.all([
    panel(lowStock, renderLowStock),
    panel(sales, renderSales),
    panel(series, renderSeries),
    panel(top, renderTopProducts),
  ]);
}

async function panel(section, fill) {
  const title = section.querySelector('h2');
  try {
    const content = await fill();
    replace(section, title, content);
  } catch (error) {
    replace(section, title, message('error', error.message));
    if (error.status === 401) throw error;
  }
}

async function renderLowStock() {
  const { data } = await get('/reports/low-stock');
  if (data.length === 0) return el('p', { text: 'Every product is at or above its threshold.' });
  // The report compares available stock (on hand less what holds keep), so that is the
  // figure shown, and the column says so: on hand alone would not explain the listing.
  // The SKU goes under the name rather than in a column of its own: four columns' minimum
  // widths add up to more than the card has at 400 px.
  return table('Products whose available stock is below their threshold, lowest first',
    ['Product', 'Available', 'Threshold'],
    data.map((product) => [
      [el('a', { href: `#/products/${product.id}`, class: 'wrap-anywhere', text: product.name }),
        el('span', { class: 'subline wrap-anywhere', text: product.sku })],
      el('span', { class: product.available_quantity === 0 ? 'badge badge-danger' : 'badge badge-warning', text: String(product.available_quantity) }),
      String(product.low_stock_threshold),
    ]));
}

async function renderSales() {
  const tomorrow = rfc3339(utcMidnight(1));
  const windows = [
    ['Today', utcMidnight(0)],
    ['Last 7 days', utcMidnight(-6)],
    ['Last 30 days', utcMidnight(-29)],
  ];
  const summaries = await Promise.all(windows.map(([, from]) =>
    get('/reports/sales-summary', { from: rfc3339(from), to: tomorrow })));
  return el('div', { class: 'summaries' }, windows.map(([label], index) => {
    const summary = summaries[index].data;
    const byStatus = Object.entries(summary.orders_by_status ?? {})
      .filter(([, count]) => count > 0)
      .map(([status, count]) => `${status} ${count}`).join(', ');
    return el('div', { class: 'summary', role: 'group', 'aria-label': label },
      el('h3', { text: label }),
      el('dl', {},
        el('dt', { text: 'Revenue' }), el('dd', { class: 'figure', text: formatCents(summary.total_revenue_cents) }),
        el('dt', { text: 'Orders' }), el('dd', { text: String(summary.order_count) }),
        el('dt', { text: 'Units' }), el('dd', { text: String(summary.units_sold) }),
        el('dt', { text: 'By status' }), el('dd', { text: byStatus || 'none' })));
  }));
}

async function renderSeries() {
  const { data } = await get('/reports/sales-series', {
    from: rfc3339(utcMidnight(-29)), to: rfc3339(utcMidnight(1)), bucket: 'day',
  });
  const total = data.reduce((sum, bucket) => sum + bucket.total_revenue_cents, 0);
  const best = data.reduce((high, bucket) => (bucket.total_revenue_cents > (high?.total_revenue_cents ?? -1) ? bucket : high), null);
  const summary = best && best.total_revenue_cents > 0
    ? `Revenue per day over ${data.length} days: ${formatCents(total)} in total, highest ${formatCents(best.total_revenue_cents)} on ${best.start.slice(0, 10)}.`
    : `No revenue in the last ${data.length} days.`;
  const points = data.map((bucket) => ({
    label: bucket.start.slice(5, 10),
    value: bucket.total_revenue_cents,
    title: `${bucket.start.slice(0, 10)}: ${formatCents(bucket.total_revenue_cents)}, ${bucket.order_count} orders`,
  }));
  return el('figure', {}, barChart(points, summary), el('figcaption', { text: summary }));
}

async function renderTopProducts() {
  const range = { from: rfc3339(utcMidnight(-29)), to: rfc3339(utcMidnight(1)), limit: 5 };
  const [byUnits, byRevenue] = await Promise.all([
    get('/reports/top-products', { ...range, by: 'units' }),
    get('/reports/top-products', { ...range, by: 'revenue' }),
  ]);
  const rows = (list) => list.map((item) => [
    el('a', { href: `#/products/${item.product_id}`, class: 'wrap-anywhere', text: item.name }),
    String(item.units_sold),
    formatCents(item.revenue_cents),
  ]);
  if (byUnits.data.length === 0) return el('p', { text: 'No sales in the last 30 days.' });
  return el('div', {},
    table('By units sold', ['Product', 'Units', 'Revenue'], rows(byUnits.data)),
    table('By revenue', ['Product', 'Units', 'Revenue'], rows(byRevenue.data)));
}

/** A viewer's dashboard: what the role may do, and the key's own latest orders. */
async function renderViewer(main, heading) {
  const recent = el('section', { class: 'card', 'aria-labelledby': 'recent-title' },
    el('h2', { id: 'recent-title', text: 'Your latest orders' }), el('p', { text: 'Loading…' }));
  replace(main, heading,
    el('p', {}, `Signed in as ${currentIdentity()?.owner ?? ''} with a viewer key. You can `,
      el('a', { href: '#/products', text: 'search products' }), ', ',
      el('a', { href: '#/orders', text: 'see your orders' }),
      ' and cancel your own pending or confirmed orders. Reports, stock changes, status changes and keys need an admin key.'),
    recent);
  await panel(recent, async () => {
    const { data } = await get('/orders', { limit: 5 });
    if (data.length === 0) return el('p', { text: 'No orders yet.' });
    return table('Your five latest orders', ['Order', 'Status', 'Total', 'Created'],
      data.map((order) => [
        el('a', { href: `#/orders/${encodeURIComponent(order.id)}`, text: order.id }),
        order.status, formatCents(order.total_cents), formatTime(order.created_at),
      ]));
  });
}
