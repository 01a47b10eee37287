/** Formatting of API values for display (all output is plain text). */

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });

/** Integer cents as money; the API's cents are exact, so no float sums happen here. */
export function formatCents(cents) {
  return money.format(Number(cents) / 100);
}

/**
 * An RFC 3339 time as `YYYY-MM-DD HH:MM UTC` (the API's times are UTC), with `:SS` when
 * `seconds` is set (webhook deliveries are retried seconds apart).
 */
export function formatTime(value, { seconds = false } = {}) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return `${date.toISOString().slice(0, seconds ? 19 : 16).replace('T', ' ')} UTC`;
}

/** Midnight UTC `daysAgo` days before today's midnight, as a Date. */
export function utcMidnight(daysFromToday = 0) {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + daysFromToday));
}

/** A Date as RFC 3339 UTC without milliseconds. */
export function rfc3339(date) {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
