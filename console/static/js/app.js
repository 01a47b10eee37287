/**
 * The console's entry point: the page frame (navigation, identity, rate-limit budget)
 * and a router over `location.hash`.
 *
 * Hash routes keep the whole console on one URL the server serves as a file, and keep
 * the browser's back button working. A route's query (`#/orders?status=pending`) holds
 * only filters and paging cursors, never a key or token.
 *
 * When the session ends on its own (its token expired, or the API refused it), the page
 * is taken down at once and the sign-in form shown with the reason (`requireSignIn`).
 */

import { ApiError, get, onRateLimit } from './api.js';
import { append, button, el, message, replace } from './dom.js';
import { formatTime } from './format.js';
import {
  EXPIRED, accessToken, currentIdentity, expiresAt, hasExpired, isAdmin, onSessionEnd, setIdentity, signOut,
} from './session.js';
import * as dashboard from './views/dashboard.js';
import * as keys from './views/keys.js';
import * as order from './views/order.js';
import * as orders from './views/orders.js';
import * as product from './views/product.js';
import * as products from './views/products.js';
import * as signin from './views/signin.js';
import * as webhooks from './views/webhooks.js';

/** Route patterns, first match wins; `admin` routes are not offered to viewers. */
const ROUTES = [
  { pattern: /^\/signin$/, view: signin, public: true },
  { pattern: /^\/(dashboard)?$/, view: dashboard },
  { pattern: /^\/orders$/, view: orders },
  { pattern: /^\/orders\/([^/]+)$/, view: order },
  { pattern: /^\/products$/, view: products },
  { pattern: /^\/products\/(new|\d+)$/, view: product },
  { pattern: /^\/keys$/, view: keys, admin: true },
  { pattern: /^\/webhooks(?:\/(\d+))?$/, view: webhooks, admin: true },
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const identityBox = document.getElementById('identity');
const notice = document.getElementById('notice');

/** The latest rate-limit budget, shown next to the identity. */
let budget = null;

/**
 * The element the current route renders into. Every route gets a fresh one, so a slow
 * view that finishes after the operator moved on writes into a detached element instead
 * of over the page now shown.
 */
let currentPage = null;

/** Shows a message above the page `forHash` (by default the current one) until the next page. */
export function flash(text, kind = 'success', forHash = location.hash) {
  replace(notice, message(kind, text));
  notice.dataset.keepFor = forHash;
}

/** Navigates to `hash` (`#/orders?...`); re-renders even if it is the current one. */
export function navigate(hash) {
  if (location.hash === hash) {
    route();
  } else {
    location.hash = hash;
  }
}

/**
 * Sends the operator to sign in again, with `reason` shown there. The page shown is
 * removed at once, so nothing of it stays on screen or acts after the session ended; a
 * view still loading finds itself detached (see `currentPage`).
 */
export function requireSignIn(reason) {
  signOut();
  renderFrame();
  currentPage = null;
  replace(main);
  main.removeAttribute('aria-busy');
  if (reason) flash(reason, 'error', '#/signin');
  navigate('#/signin');
}

/** Renders the current hash's view. */
async function route() {
  // Where focus was when this page was asked for: the page's heading takes it over only
  // if it is still there (or nowhere), never from a control the operator moved to while
  // the page was loading.
  const focusAtStart = document.activeElement;
  const [path, queryString = ''] = location.hash.replace(/^#/, '').split('?');
  const query = new URLSearchParams(queryString);
  const match = ROUTES.map((entry) => ({ entry, groups: (path || '/').match(entry.pattern) }))
    .find(({ groups }) => groups);

  if (!match) {
    renderPage(el('h1', { tabindex: '-1', text: 'Page not found' }),
      el('p', {}, 'There is no such page. ', el('a', { href: '#/dashboard', text: 'Go to the dashboard' })));
    return;
  }
  if (!match.entry.public && hasExpired()) {
    requireSignIn(EXPIRED);
    return;
  }
  if (!match.entry.public && !accessToken()) {
    navigate('#/signin');
    return;
  }
  if (!match.entry.public && !currentIdentity()) {
    try {
      setIdentity((await get('/auth/me')).data);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        // A session that ended has signed the console out already, and said why.
        if (error.code !== 'SESSION_ENDED') requireSignIn(error.message);
      } else {
        renderPage(el('h1', { tabindex: '-1', text: 'Cannot load the console' }), message('error', error.message),
          button('Try again', route));
      }
      return;
    }
  }
  renderFrame();
  if (match.entry.admin && !isAdmin()) {
    renderPage(el('h1', { tabindex: '-1', text: 'Not available' }),
      message('error', 'This page is for admin keys only.'));
    return;
  }
  markCurrentLink(path || '/dashboard');
  const page = el('div', { class: 'page' });
  currentPage = page;
  replace(main, page);
  main.setAttribute('aria-busy', 'true');
  try {
    await match.entry.view.render(page, { params: match.groups.slice(1), query });
  } catch (error) {
    if (page !== currentPage) return;
    if (error instanceof ApiError && error.status === 401) {
      if (error.code !== 'SESSION_ENDED') requireSignIn(error.message);
      return;
    }
    append(page, [message('error', error instanceof ApiError ? error.message : `Something went wrong: ${error}`)]);
  } finally {
    if (page === currentPage) main.removeAttribute('aria-busy');
  }
  if (page !== currentPage) return;
  // Move focus to the new page's heading, so keyboard and screen-reader users start there.
  const focusNow = document.activeElement;
  if (focusNow === focusAtStart || focusNow === document.body || !focusNow?.isConnected) {
    page.querySelector('h1')?.focus();
  }
}

/** Replaces the page content. */
function renderPage(...children) {
  const page = el('div', { class: 'page' }, ...children);
  currentPage = page;
  replace(main, page);
  page.querySelector('h1')?.focus();
}

/** Navigation and identity for the signed-in key (empty when signed out). */
function renderFrame() {
  const me = currentIdentity();
  if (!accessToken() || !me) {
    replace(nav);
    replace(identityBox);
    return;
  }
  const links = [['#/dashboard', 'Dashboard'], ['#/orders', 'Orders'], ['#/products', 'Products']];
  if (isAdmin()) links.push(['#/keys', 'API keys'], ['#/webhooks', 'Webhooks']);
  replace(nav, el('ul', {}, links.map(([href, label]) => el('li', {}, el('a', { href, text: label })))));
  replace(identityBox,
    el('span', { class: 'who' }, 'Signed in as ', el('strong', { text: me.owner }), ' ',
      el('span', { class: `role role-${me.role}`, text: me.role })),
    el('span', { class: 'session-end', text: `Session ends ${formatTime(expiresAt(), { seconds: true })}` }),
    el('span', { class: 'budget', id: 'budget', 'aria-live': 'off' }, budgetText()),
    button('Sign out', () => {
      signOut();
      renderFrame();
      flash('Signed out. This tab no longer holds the access token.', 'success', '#/signin');
      navigate('#/signin');
    }, { class: 'secondary' }));
}

function budgetText() {
  if (!budget) return '';
  const reset = budget.resetSeconds === null ? '' : `, resets in ${budget.resetSeconds} s`;
  return `${budget.remaining} requests left${reset}`;
}

/** `aria-current="page"` on the navigation link of the section shown. */
function markCurrentLink(path) {
  const section = `#/${path.split('/')[1] || 'dashboard'}`;
  for (const link of nav.querySelectorAll('a')) {
    if (link.getAttribute('href') === section) {
      link.setAttribute('aria-current', 'page');
    } else {
      link.removeAttribute('aria-current');
    }
  }
}

onSessionEnd((reason) => requireSignIn(reason));

onRateLimit((latest) => {
  budget = latest;
  const box = document.getElementById('budget');
  if (box) box.textContent = budgetText();
});

// The skip link targets the main region; following it as a link would change the hash
// route, so it moves focus instead.
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', () => {
  // A message belongs to the page it was shown for.
  if (notice.dataset.keepFor !== location.hash) {
    replace(notice);
    delete notice.dataset.keepFor;
  }
  route();
});
route();
