/**
 * The one way the console talks to the API.
 *
 * Adds the session's access token (`Authorization: Bearer`), sends and reads JSON,
 * follows the API's paging (`Link: <...>; rel="next"`) and turns every refusal into an
 * ApiError whose message a person can read: the API's own `error` text plus what to do
 * about it (wait for a 429's `Retry-After`, retry a 503, reload after a 412). Views never
 * see a raw failure. A token the API refuses (401 `invalid_token`: expired, or its key
 * revoked) ends the session here, whichever view asked, so every view signs out alike.
 * `exchangeKey` is sign-in's one use of a key: it trades the key for a token.
 */

import { EXPIRED, REFUSED, accessToken, endSession, hasExpired } from './session.js';

const API_ROOT = '/api/v1';

/**
 * A refused or failed request, with a readable `message`. `invalidToken`: the API said
 * the access token presented is no good (RFC 6750 §3 `error="invalid_token"`).
 */
export class ApiError extends Error {
  constructor(message, {
    status = 0, code = 'NETWORK_ERROR', details = null, retryAfter = null, invalidToken = false,
  } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
    this.invalidToken = invalidToken;
  }
}

const rateLimitListeners = new Set();

/** Calls `listener({remaining, resetSeconds})` whenever a response reports the key's budget. */
export function onRateLimit(listener) {
  rateLimitListeners.add(listener);
}

/**
 * `RateLimit: "per-key";r=<remaining>;t=<seconds>` (IETF draft structured field).
 * Returns null when absent or unreadable.
 */
export function parseRateLimit(header) {
  if (!header) return null;
  const remaining = /(?:^|;)\s*r=(\d+)/.exec(header);
  const reset = /(?:^|;)\s*t=(\d+)/.exec(header);
  if (!remaining) return null;
  return { remaining: Number(remaining[1]), resetSeconds: reset ? Number(reset[1]) : null };
}

/** The `cursor` of the `rel="next"` link, or null on the last page. */
export function nextCursor(linkHeader) {
  if (!linkHeader) return null;
  for (const part of linkHeader.split(',')) {
    const match = /<([^>]*)>\s*;(.*)/.exec(part.trim());
    if (match && /rel="?next"?/.test(match[2])) {
      return new URL(match[1], location.origin).searchParams.get('cursor');
    }
  }
  return null;
}

/**
 * `method path` against the API with the session's token. `options`: `query` (object;
 * empty values dropped), `body` (sent as JSON), `headers`. Resolves to
 * `{status, data, etag, next}`; rejects with an ApiError (code `SESSION_ENDED` when there
 * is no valid token to send, or the API refused it: the session has ended already).
 */
export async function request(method, path, options = {}) {
  const token = accessToken();
  if (!token) throw noSession();
  const headers = { ...options.headers, Authorization: `Bearer ${token}` };
  let body;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  try {
    return await send(method, path, { query: options.query, headers, body });
  } catch (error) {
    // Only a refusal of the token still held ends the session: a late answer to a token
    // that was replaced by signing in again since must not sign the new session out.
    if (error.status === 401 && error.invalidToken && accessToken() === token) {
      endSession(REFUSED);
      throw sessionEnded(REFUSED);
    }
    throw error;
  }
}

/**
 * Trades an API key for an access token at the token endpoint (OAuth 2.0 client
 * credentials, RFC 6749 §4.4), the only request that ever carries a key. The key's id
 * and the key travel as HTTP Basic credentials, each form-urlencoded first as §2.3.1
 * asks. Resolves to the token response `{access_token, token_type, expires_in, scope}`;
 * rejects with an ApiError whose `code` is the OAuth error (`invalid_client`, ...).
 */
export async function exchangeKey(clientId, key) {
  const credentials = btoa(`${formEncoded(clientId)}:${formEncoded(key)}`);
  const { data } = await send('POST', '/auth/token', {
    headers: {
      Authorization: `Basic ${credentials}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
  });
  return data;
}

/** Sends one request as given and reads the answer; rejects with an ApiError. */
async function send(method, path, { query = {}, headers = {}, body } = {}) {
  const url = new URL(API_ROOT + path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }

  let response;
  try {
    // `credentials: 'omit'`: the API authenticates by header only; no cookie is involved,
    // and the browser never offers its own password prompt for a 401 with a Basic challenge.
    response = await fetch(url, {
      method, headers: { Accept: 'application/json', ...headers }, body, credentials: 'omit', cache: 'no-store',
    });
  } catch {
    throw new ApiError('Could not reach the API. Check your connection and try again.');
  }

  const budget = parseRateLimit(response.headers.get('RateLimit'));
  if (budget) rateLimitListeners.forEach((listener) => listener(budget));

  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw errorFor(response, data);
  return {
    status: response.status,
    data,
    etag: response.headers.get('ETag'),
    next: nextCursor(response.headers.get('Link')),
  };
}

/** Shorthands. */
export const get = (path, query) => request('GET', path, { query });
export const post = (path, body, options = {}) => request('POST', path, { ...options, body });
export const patch = (path, body, options = {}) => request('PATCH', path, { ...options, body });
export const put = (path, body, options = {}) => request('PUT', path, { ...options, body });
export const del = (path, options = {}) => request('DELETE', path, options);

/** The ApiError of a request made without a valid token; ends the session if it expired. */
function noSession() {
  if (!hasExpired()) return sessionEnded('You are signed out. Sign in to continue.');
  endSession(EXPIRED);
  return sessionEnded(EXPIRED);
}

/** The ApiError of a request the session's end refused (the console has signed out already). */
function sessionEnded(reason) {
  return new ApiError(reason, { status: 401, code: 'SESSION_ENDED' });
}

/** `value` encoded as application/x-www-form-urlencoded encodes a field (RFC 6749 Appendix B). */
function formEncoded(value) {
  return new URLSearchParams({ value }).toString().slice('value='.length);
}

/**
 * An ApiError for a refused response, worded for the person at the keyboard. The token
 * endpoint answers in RFC 6749 §5.2's shape (`error` a code, `error_description` the
 * text); every other endpoint as `{error: text, code}`.
 */
function errorFor(response, data) {
  const status = response.status;
  const isOAuth = typeof data?.error_description === 'string';
  const code = (isOAuth ? data.error : data?.code) ?? `HTTP_${status}`;
  const apiMessage = isOAuth ? data.error_description
    : typeof data?.error === 'string' ? data.error : response.statusText;
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  let message;
  switch (status) {
    case 401:
      message = code === 'invalid_client'
        ? `The key id or the API key was not accepted (${apiMessage}). Check both and try again.`
        : `You are not signed in (${apiMessage}). Sign in again.`;
      break;
    case 403:
      message = `Your key's role may not do this (${apiMessage}).`;
      break;
    case 412:
      message = 'Someone else changed this since you opened it, so your changes were not saved. ' +
        'Reload to see the current version, then make your change again.';
      break;
    case 429:
      message = Number.isFinite(retryAfter)
        ? `Too many requests: the limit for this key is used up. Try again in ${retryAfter} s.`
        : `Too many requests (${apiMessage}). Wait a moment and try again.`;
      break;
    case 503:
      message = 'The service is temporarily unavailable (503). Nothing was changed; try again in a moment.';
      break;
    default:
      message = status >= 500
        ? `The server failed (${status}). Try again; if it keeps failing, tell the operators.`
        : `${apiMessage} (${code}).`;
  }
  const details = describeDetails(data?.details);
  if (details) message += ` ${details}`;
  return new ApiError(message, {
    status, code, details: data?.details ?? null,
    retryAfter: Number.isFinite(retryAfter) ? retryAfter : null,
    invalidToken: /error="?invalid_token"?/.test(response.headers.get('WWW-Authenticate') ?? ''),
  });
}

/** The `details` of a validation or stock error as one short sentence, if any. */
function describeDetails(details) {
  if (!details) return '';
  if (Array.isArray(details)) {
    return details.map((item) => (typeof item === 'object' && item !== null
      ? Object.entries(item).map(([name, value]) => `${name}: ${JSON.stringify(value)}`).join(', ')
      : String(item))).join('; ');
  }
  if (typeof details === 'object') {
    return Object.entries(details).map(([name, value]) => `${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`).join('; ');
  }
  return String(details);
}
