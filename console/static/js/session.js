/**
 * The session: a short-lived access token, its expiry, and who it stands for.
 *
 * Sign-in exchanges the key's id and the key for an access token once (see
 * views/signin.js); the key itself is never kept, here or anywhere else. Only the token
 * and the time it expires are stored, in sessionStorage: they survive a reload of this
 * tab (so a reload does not ask for the key again) but not the tab itself, and they are
 * never written to localStorage, a cookie or a URL (a URL ends up in history, logs and
 * Referer headers). Keeping the token there is an accepted risk because it is worth
 * little to a thief: it expires within minutes (the server's `token_lifetime_seconds`)
 * and dies at once with its key when the key is revoked, whereas the key would open the
 * API until someone revokes it. "Sign out" forgets the token.
 *
 * When the token's time is up, a timer ends the session (`onSessionEnd`), so the console
 * signs out at expiry instead of waiting for a request to be refused.
 */

const TOKEN_ITEM = 'inventory-console.access-token';
const EXPIRES_ITEM = 'inventory-console.token-expires-at';

// A console from before access tokens kept the key itself in this tab; never leave it there.
sessionStorage.removeItem('inventory-console.api-key');

/** The access token while it is valid, or null when signed out or once it has expired. */
export function accessToken() {
  return hasExpired() ? null : sessionStorage.getItem(TOKEN_ITEM);
}

/** Whether a token is held whose time is up: the session has ended without a sign-out. */
export function hasExpired() {
  return sessionStorage.getItem(TOKEN_ITEM) !== null && Date.now() >= expiresAt();
}

/** When the token expires, in milliseconds since the epoch (NaN when signed out). */
export function expiresAt() {
  return Number(sessionStorage.getItem(EXPIRES_ITEM) ?? Number.NaN);
}

/** Keeps `token`, which the token endpoint said expires in `expiresInSeconds`. */
export function signIn(token, expiresInSeconds) {
  sessionStorage.setItem(TOKEN_ITEM, token);
  sessionStorage.setItem(EXPIRES_ITEM, String(Date.now() + expiresInSeconds * 1000));
  identity = null;
  watchExpiry();
}

/** Forgets the token and who it stood for. */
export function signOut() {
  sessionStorage.removeItem(TOKEN_ITEM);
  sessionStorage.removeItem(EXPIRES_ITEM);
  identity = null;
  clearTimeout(expiryTimer);
  expiryTimer = null;
}

/** Calls `listener(reason)` whenever the session ends without a sign-out. */
export function onSessionEnd(listener) {
  sessionEndListener = listener;
  watchExpiry();
}

/**
 * Ends the session because the server no longer accepts its token (it expired, or its
 * key was revoked) or its time is up: forgets the token and tells the listener why.
 */
export function endSession(reason) {
  signOut();
  sessionEndListener(reason);
}

/** Why the session ended when its token's time was up. */
export const EXPIRED = 'Your session has ended: its access token expired. Sign in again.';

/** Why the session ended when the server refused its token before its time. */
export const REFUSED = 'Your session has ended: the API no longer accepts its access token ' +
  '(was the key revoked?). Sign in again.';

let sessionEndListener = () => {};
let expiryTimer = null;

/** Ends the session when the held token's time is up (at once if it already is). */
function watchExpiry() {
  clearTimeout(expiryTimer);
  expiryTimer = null;
  if (sessionStorage.getItem(TOKEN_ITEM) === null) return;
  expiryTimer = setTimeout(() => endSession(EXPIRED), Math.max(0, expiresAt() - Date.now()));
}

/** `{id, owner, role}` from GET /api/v1/auth/me, once known. */
let identity = null;

export function currentIdentity() {
  return identity;
}

export function setIdentity(me) {
  identity = me;
}

/** Whether the signed-in key may use admin-only features (the API checks again). */
export function isAdmin() {
  return identity?.role === 'admin';
}
