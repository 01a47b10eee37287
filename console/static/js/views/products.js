/**
 * Product search with the API's filters (full-text `search`, category, price range,
 * in stock) and cursor paging. The filters live in the route, so a search can be
 * bookmarked and back returns to it.
 */

import { get } from '../api.js';
import { el, field, replace, table } from '../dom.js';
import { formatCents } from '../format.js';
import { isAdmin } from '../session.js';
import { navigate } from '../app.js';

const FILTERS = ['search', 'category', 'min_price', 'max_price', 'in_stock'];
const PAGE_SIZE = 20;

export async function render(main, { query }) {
  const filters = Object.fromEntries(FILTERS.map((name) => [name, query.get(name) ?? '']));
  const cursor = query.get('cursor') ?? '';
  const inputs = {
    search: el('input', { type: 'search', name: 'search', value: filters.search }),
    category: el('input', { type: 'text', name: 'category', value: filters.category }),
    min_price: el('input', { type: 'number', name: 'min_price', min: '0', step: '0.01', inputmode: 'decimal', value: filters.min_price }),
    max_price: el('input', { type: 'number', name: 'max_price', min: '0', step: '0.01', inputmode: 'decimal', value: filters.max_price }),
    in_stock: el('input', { type: 'checkbox', name: 'in_stock', id: 'products-in-stock', checked: filters.in_stock === 'true' }),
  };
  const form = el('form', { class: 'filters', role: 'search', 'aria-label': 'Search products' },
    field('Search', inputs.search, 'Words or word prefixes in name, description, SKU or category.'),
    field('Category', inputs.category),
    field('Minimum price', inputs.min_price),
    field('Maximum price', inputs.max_price),
    el('div', { class: 'field checkbox' }, inputs.in_stock, el('label', { for: 'products-in-stock', text: 'In stock only' })),
    el('button', { type: 'submit', text: 'Search' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const name of FILTERS) {
      const value = name === 'in_stock' ? (inputs.in_stock.checked ? 'true' : '') : inputs[name].value.trim();
      if (value) chosen.set(name, value);
    }
    navigate(`#/products${chosen.size ? `?${chosen}` : ''}`);
  });

  const results = el('div', { class: 'results', 'aria-live': 'polite' }, el('p', { text: 'Loading…' }));
  replace(main,
    el('h1', { tabindex: '-1', text: 'Products' }),
    isAdmin() ? el('p', {}, el('a', { class: 'button-link', href: '#/products/new', text: 'New product' })) : null,
    form, results);

  const active = Object.fromEntries(Object.entries(filters).filter(([, value]) => value));
  const page = await get('/products', { ...active, cursor, limit: PAGE_SIZE });
  const rows = page.data.map((product) => [
    el('a', { href: `#/products/${product.id}`, class: 'wrap-anywhere', text: product.name }),
    product.sku,
    product.category ?? '',
    formatCents(product.price_cents),
    // What can still be sold: on hand minus what checkouts hold (the product page shows both).
    el('span', {
      class: product.available_quantity < product.low_stock_threshold ? 'badge badge-warning' : '',
      text: String(product.available_quantity),
    }),
  ]);
  const next = page.next ? new URLSearchParams({ ...active, cursor: page.next }) : null;
  const first = new URLSearchParams(active);
  replace(results,
    page.data.length === 0
      ? el('p', { text: 'No products match.' })
      : table('Matching products', ['Name', 'SKU', 'Category', 'Price', 'Available'], rows),
    el('nav', { class: 'paging', 'aria-label': 'Pages' },
      cursor ? el('a', { href: `#/products${first.size ? `?${first}` : ''}`, text: 'First page' }) : null,
      next ? el('a', { href: `#/products?${next}`, text: 'Next page' }) : null));
}
