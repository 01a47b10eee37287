/**
 * The signed-in key and who it belongs to.
 *
 * The key lives in sessionStorage only: it survives a reload of this tab but not the
 * tab itself, and it is never written to localStorage, a cookie or a URL (a URL ends
 * up in history, logs and Referer headers). "Sign out" forgets it.
 */

const KEY_ITEM = 'inventory-console.api-key';

/** The key in use, or null when signed out. */
export function apiKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

/** Remembers `key` for this tab. */
export function signIn(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

/** Forgets the key and who it belonged to. */
export function signOut() {
  sessionStorage.removeItem(KEY_ITEM);
  identity = null;
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
