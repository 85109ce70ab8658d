/**
 * Why: a server that answers 429 or 503 often says when to come back (`Retry-After`, RFC 9110
 * §10.2.3), and proxykit's own protective errors carry `retryAfterMs`. A retry that ignores the
 * hint comes back too early and is refused again. This file reads the hint the way browsers and
 * Envoy's `retry_back_off.rate_limited_retry_back_off` do: delay-seconds or an HTTP-date, from
 * whatever shape an HTTP client hands back (a plain object in any letter case, a `Headers`
 * instance, undici's `Record<string, string | string[]>`). Anything malformed or negative is
 * ignored rather than guessed at.
 */

const SECONDS = /^\d+$/;
const MONTHS = 'jan feb mar apr may jun jul aug sep oct nov dec';
const MONTH = '(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)';
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
/** `Sun, 06 Nov 1994 08:49:37 GMT` — the preferred format. */
const IMF_FIXDATE = new RegExp(
  `^(?:mon|tue|wed|thu|fri|sat|sun), (\\d\\d) ${MONTH} (\\d{4}) ${TIME} gmt$`,
  'i',
);
/** `Sunday, 06-Nov-94 08:49:37 GMT` — obsolete, two-digit year. */
const RFC850_DATE = new RegExp(
  `^(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday), (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} gmt$`,
  'i',
);
/** `Sun Nov  6 08:49:37 1994` — obsolete, C's asctime(). */
const ASCTIME_DATE = new RegExp(
  `^(?:mon|tue|wed|thu|fri|sat|sun) ${MONTH} ( \\d|\\d\\d) ${TIME} (\\d{4})$`,
  'i',
);

function utc(
  year: number,
  month: string,
  day: string,
  hour: string,
  minute: string,
  second: string,
): number | undefined {
  const m = MONTHS.indexOf(month.toLowerCase()) / 4;
  const d = Number(day);
  const h = Number(hour);
  const min = Number(minute);
  const s = Number(second);
  if (h > 23 || min > 59 || s > 60) return undefined;
  const ms = Date.UTC(year, m, d, h, min, s);
  // Date.UTC rolls 31 Feb over into March; a real date survives the round trip.
  const check = new Date(ms);
  return check.getUTCDate() === d && check.getUTCMonth() === m ? ms : undefined;
}

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7: IMF-fixdate, or the obsolete RFC 850 and asctime
 * formats) into milliseconds since the epoch. Stricter than `Date.parse`, which reads `"1"` as
 * the year 2001 and asctime dates in local time.
 *
 * @param value the header value, without surrounding whitespace
 * @param nowMs wall-clock now, used only to place an RFC 850 two-digit year (a year more than
 *   50 years ahead means the most recent past year with those digits)
 * @returns epoch milliseconds, or `undefined` when `value` is not an HTTP-date
 */
export function parseHttpDate(value: string, nowMs: number = Date.now()): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match !== null) {
    const [, day = '', month = '', year = '', hour = '', minute = '', second = ''] = match;
    return utc(Number(year), month, day, hour, minute, second);
  }
  match = ASCTIME_DATE.exec(value);
  if (match !== null) {
    const [, month = '', day = '', hour = '', minute = '', second = '', year = ''] = match;
    return utc(Number(year), month, day.trim(), hour, minute, second);
  }
  match = RFC850_DATE.exec(value);
  if (match !== null) {
    const [, day = '', month = '', yy = '', hour = '', minute = '', second = ''] = match;
    const thisYear = new Date(nowMs).getUTCFullYear();
    let year = thisYear - (thisYear % 100) + Number(yy);
    if (year > thisYear + 50) year -= 100;
    return utc(year, month, day, hour, minute, second);
  }
  return undefined;
}

/**
 * Reads a `Retry-After` value: delay-seconds (`"120"`) or an HTTP-date.
 *
 * @param value the header value; a string array (a header repeated) uses its first element, a
 *   number is taken as seconds
 * @param nowMs wall-clock now in epoch milliseconds, to turn a date into a delay
 * @returns the delay in milliseconds (0 for a date already past), or `undefined` for a missing,
 *   negative, fractional or otherwise malformed value
 */
export function parseRetryAfter(value: unknown, nowMs: number = Date.now()): number | undefined {
  const raw: unknown = Array.isArray(value) ? (value as unknown[])[0] : value;
  if (typeof raw === 'number') {
    return Number.isInteger(raw) && raw >= 0 ? raw * 1000 : undefined;
  }
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (SECONDS.test(text)) return Number(text) * 1000;
  const date = parseHttpDate(text, nowMs);
  return date === undefined ? undefined : Math.max(0, date - nowMs);
}

/**
 * Finds the `Retry-After` header in `headers` and parses it with {@link parseRetryAfter}.
 *
 * @param headers a `Headers` instance (or anything with a `get(name)` method), or a plain object
 *   or undici `Record<string, string | string[]>` whose keys may be in any letter case
 * @param nowMs wall-clock now in epoch milliseconds
 * @returns the delay in milliseconds, or `undefined` when there is no usable header
 */
export function retryAfterFromHeaders(
  headers: unknown,
  nowMs: number = Date.now(),
): number | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const get = (headers as { get?: unknown }).get;
  if (typeof get === 'function') {
    return parseRetryAfter((get as (name: string) => unknown).call(headers, 'retry-after'), nowMs);
  }
  const record = headers as Record<string, unknown>;
  if ('retry-after' in record) return parseRetryAfter(record['retry-after'], nowMs);
  for (const key of Object.keys(record)) {
    if (key.length === 11 && key.toLowerCase() === 'retry-after') {
      return parseRetryAfter(record[key], nowMs);
    }
  }
  return undefined;
}
