import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { decorrelatedJitter, exponentialBackoff, fullJitter } from './backoff.js';

/** A random source that returns the given values in turn, each in [0, 1). */
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const ms = fc.double({ min: 0, max: 1e7, noNaN: true });
const retry = fc.integer({ min: 0, max: 2000 });

describe('exponentialBackoff', () => {
  it('doubles from base and stops at the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => exponentialBackoff(i, 25, 1000))).toEqual([
      25, 50, 100, 200, 400, 800, 1000,
    ]);
  });

  test.prop([retry, ms, ms])('is min(cap, base·2^i), finite, never NaN', (i, base, cap) => {
    const value = exponentialBackoff(i, base, cap);
    expect(Number.isNaN(value)).toBe(false);
    expect(value).toBeGreaterThanOrEqual(0);
    expect(value).toBeLessThanOrEqual(cap);
    // 2^i beyond 2^1023 is Infinity, and 0·Infinity would be NaN: the exponent stops there.
    expect(value).toBe(Math.min(cap, base * 2 ** Math.min(i, 1023)));
  });

  test.prop([retry, ms, ms])('never decreases from one retry to the next', (i, base, cap) => {
    expect(exponentialBackoff(i + 1, base, cap)).toBeGreaterThanOrEqual(
      exponentialBackoff(i, base, cap),
    );
  });

  it('treats a negative, fractional or NaN retry as its floor, at least 0', () => {
    expect(exponentialBackoff(-3, 25, 1000)).toBe(25);
    expect(exponentialBackoff(2.7, 25, 1000)).toBe(100);
    expect(exponentialBackoff(Number.NaN, 25, 1000)).toBe(25);
  });
});

describe('fullJitter', () => {
  test.prop([retry, ms, ms, unit])(
    'the i-th retry waits within [0, min(cap, base·2^i)]',
    (i, base, cap, r) => {
      const value = fullJitter(i, base, cap, () => r);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThanOrEqual(Math.min(cap, base * 2 ** Math.min(i, 1023)));
    },
  );

  it('spans the whole range: random 0 gives 0, random → 1 approaches the ceiling', () => {
    expect(fullJitter(3, 25, 1000, () => 0)).toBe(0);
    expect(fullJitter(3, 25, 1000, () => 0.5)).toBe(100);
    expect(fullJitter(3, 25, 1000, () => 0.999_999)).toBeCloseTo(200, 3);
  });

  it('uses Math.random by default', () => {
    for (let i = 0; i < 100; i++) {
      const value = fullJitter(2, 25, 1000);
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(100);
    }
  });
});

describe('decorrelatedJitter', () => {
  test.prop([ms, ms, ms, unit])(
    'waits within [min(cap, base), min(cap, max(base, 3·previous))]',
    (previous, base, cap, r) => {
      const value = decorrelatedJitter(previous, base, cap, () => r);
      expect(value).toBeGreaterThanOrEqual(Math.min(cap, base));
      expect(value).toBeLessThanOrEqual(Math.min(cap, Math.max(base, 3 * previous)));
    },
  );

  test.prop([
    fc.double({ min: 0, max: 1000, noNaN: true }),
    fc.double({ min: 0, max: 1e6, noNaN: true }),
    fc.array(unit, { minLength: 1, maxLength: 50 }),
  ])('a chained schedule starting at base stays within [base, cap]', (base, extra, draws) => {
    const cap = base + extra;
    let previous = base;
    for (const r of draws) {
      previous = decorrelatedJitter(previous, base, cap, () => r);
      expect(previous).toBeGreaterThanOrEqual(base);
      expect(previous).toBeLessThanOrEqual(cap);
    }
  });

  it('follows the AWS formula min(cap, random_between(base, 3·previous))', () => {
    expect(decorrelatedJitter(100, 10, 1000, () => 0)).toBe(10);
    expect(decorrelatedJitter(100, 10, 1000, () => 0.5)).toBe(155);
    expect(decorrelatedJitter(500, 10, 1000, () => 0.9)).toBe(1000);
  });
});
