/**
 * The one way the console talks to the API.
 *
 * Adds the signed-in key (`X-API-Key`), sends and reads JSON, follows the API's paging
 * (`Link: <...>; rel="next"`) and turns every refusal into an ApiError whose message a
 * person can read: the API's own `error` text plus what to do about it (wait for a 429's
 * `Retry-After`, retry a 503, reload after a 412). Views never see a raw failure.
 */

import { apiKey } from './session.js';

const API_ROOT = '/api/v1';

/** A refused or failed request, with a readable `message`. */
export class ApiError extends Error {
  constructor(message, { status = 0, code = 'NETWORK_ERROR', details = null, retryAfter = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
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
 * `method path` against the API. `options`: `query` (object; empty values dropped),
 * `body` (sent as JSON), `headers`, `key` (instead of the signed-in one, for sign-in).
 * Resolves to `{status, data, etag, next}`; rejects with an ApiError.
 */
export async function request(method, path, options = {}) {
  const url = new URL(API_ROOT + path, location.origin);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
  const headers = { Accept: 'application/json', ...options.headers };
  const key = options.key ?? apiKey();
  if (key) headers['X-API-Key'] = key;
  let body;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }

  let response;
  try {
    // `credentials: 'omit'`: the API authenticates by header only; no cookie is involved.
    response = await fetch(url, { method, headers, body, credentials: 'omit', cache: 'no-store' });
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
export const get = (path, query, key) => request('GET', path, { query, key });
export const post = (path, body, options = {}) => request('POST', path, { ...options, body });
export const patch = (path, body, options = {}) => request('PATCH', path, { ...options, body });
export const put = (path, body, options = {}) => request('PUT', path, { ...options, body });
export const del = (path, options = {}) => request('DELETE', path, options);

/** An ApiError for a refused response, worded for the person at the keyboard. */
function errorFor(response, data) {
  const status = response.status;
  const code = data?.code ?? `HTTP_${status}`;
  const apiMessage = typeof data?.error === 'string' ? data.error : response.statusText;
  const retryAfter = Number.parseInt(response.headers.get('Retry-After') ?? '', 10);
  let message;
  switch (status) {
    case 401:
      message = `The API key was not accepted (${apiMessage}). Check it, or sign in with another key.`;
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
