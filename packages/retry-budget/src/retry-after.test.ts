import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { parseHttpDate, parseRetryAfter, retryAfterFromHeaders } from './retry-after.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0); // Mon, 23 Nov 2026 12:00:00 GMT

describe('parseHttpDate', () => {
  it('reads the three formats of RFC 9110 §5.6.7 as UTC', () => {
    const expected = Date.UTC(1994, 10, 6, 8, 49, 37);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(expected);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(expected);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(expected);
  });

  it('places a two-digit year no more than 50 years ahead', () => {
    expect(parseHttpDate('Friday, 01-Jan-76 00:00:00 GMT', NOW)).toBe(Date.UTC(2076, 0, 1));
    expect(parseHttpDate('Monday, 01-Jan-77 00:00:00 GMT', NOW)).toBe(Date.UTC(1977, 0, 1));
    expect(parseHttpDate('Thursday, 01-Jan-26 00:00:00 GMT', NOW)).toBe(Date.UTC(2026, 0, 1));
  });

  it.each([
    '1',
    '2026',
    'tomorrow',
    'Sun, 06 Nov 1994 08:49:37', // no GMT
    'Sun, 06 Nov 1994 08:49:37 PST',
    'Sun, 6 Nov 1994 08:49:37 GMT', // one-digit day
    'Sun, 31 Feb 1994 08:49:37 GMT', // no such day
    'Sun, 06 Nov 1994 24:00:00 GMT',
    'Sun, 06 Nov 1994 08:60:00 GMT',
    'Sun, 06 Foo 1994 08:49:37 GMT',
    '1994-11-06T08:49:37Z', // ISO 8601 is not an HTTP-date
  ])('rejects %j', (value) => {
    expect(parseHttpDate(value, NOW)).toBeUndefined();
  });

  test.prop([
    fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
  ])('round-trips any date written by toUTCString (IMF-fixdate), to the second', (date) => {
    const seconds = Math.floor(date.getTime() / 1000) * 1000;
    expect(parseHttpDate(date.toUTCString())).toBe(seconds);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(3, NOW)).toBe(3000);
    expect(parseRetryAfter(['2', '7'], NOW)).toBe(2000);
  });

  it('turns an HTTP-date into the time left until it, and a past date into 0', () => {
    expect(parseRetryAfter('Mon, 23 Nov 2026 12:00:05 GMT', NOW)).toBe(5000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 11:59:00 GMT', NOW)).toBe(0);
  });

  it.each([
    ['-5'],
    ['1.5'],
    ['+3'],
    ['0x10'],
    [''],
    ['soon'],
    [-1],
    [1.5],
    [Number.NaN],
    [null],
    [undefined],
    [{}],
    [[]],
  ])('ignores %j', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeUndefined();
  });

  test.prop([fc.nat({ max: 10_000_000 })])('delay-seconds round-trip', (seconds) => {
    expect(parseRetryAfter(String(seconds), NOW)).toBe(seconds * 1000);
  });

  test.prop([fc.string({ maxLength: 40 })])(
    'never throws; any answer is a finite number >= 0',
    (value) => {
      const result = parseRetryAfter(value, NOW);
      if (result !== undefined) {
        expect(Number.isFinite(result)).toBe(true);
        expect(result).toBeGreaterThanOrEqual(0);
      }
    },
  );
});

describe('retryAfterFromHeaders', () => {
  it('finds the header in a plain object in any letter case', () => {
    expect(retryAfterFromHeaders({ 'retry-after': '1' }, NOW)).toBe(1000);
    expect(retryAfterFromHeaders({ 'Retry-After': '2' }, NOW)).toBe(2000);
    expect(retryAfterFromHeaders({ 'RETRY-AFTER': '3' }, NOW)).toBe(3000);
  });

  it("reads undici's Record<string, string | string[]>", () => {
    expect(retryAfterFromHeaders({ 'retry-after': ['4'], 'set-cookie': ['a', 'b'] }, NOW)).toBe(
      4000,
    );
  });

  it('reads a Headers instance', () => {
    expect(retryAfterFromHeaders(new Headers({ 'Retry-After': '5' }), NOW)).toBe(5000);
    expect(
      retryAfterFromHeaders(new Headers({ 'retry-after': 'Mon, 23 Nov 2026 12:00:06 GMT' }), NOW),
    ).toBe(6000);
  });

  it('returns undefined when there is no usable header', () => {
    expect(retryAfterFromHeaders(undefined, NOW)).toBeUndefined();
    expect(retryAfterFromHeaders('retry-after: 1', NOW)).toBeUndefined();
    expect(retryAfterFromHeaders({}, NOW)).toBeUndefined();
    expect(retryAfterFromHeaders(new Headers(), NOW)).toBeUndefined();
    expect(retryAfterFromHeaders({ 'retry-after': 'later' }, NOW)).toBeUndefined();
  });
});
