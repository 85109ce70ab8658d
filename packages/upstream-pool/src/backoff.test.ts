import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('doubles from the base up to the cap, with equal jitter', () => {
    const top = (): number => 1 - Number.EPSILON;
    expect([0, 1, 2, 3, 4].map((retry) => backoffDelay(retry, 50, 300, () => 0))).toEqual([
      25, 50, 100, 150, 150,
    ]);
    expect(backoffDelay(2, 50, 300, top)).toBeCloseTo(200);
    expect(backoffDelay(10, 50, 300, top)).toBeCloseTo(300);
  });

  it('stays finite for huge retry numbers', () => {
    expect(backoffDelay(1e9, 1, 5_000, () => 0.5)).toBe(3_750);
  });

  test.prop([
    fc.nat({ max: 200 }),
    fc.double({ min: 0.001, max: 1_000, noNaN: true }),
    fc.double({ min: 0, max: 1_000_000, noNaN: true }),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  ])('lies in [step / 2, step] with step = min(cap, base · 2^retry)', (retry, base, extra, r) => {
    const cap = base + extra;
    const step = Math.min(cap, base * 2 ** Math.min(retry, 30));
    const wait = backoffDelay(retry, base, cap, () => r);
    expect(wait).toBeGreaterThanOrEqual(step / 2);
    expect(wait).toBeLessThanOrEqual(step);
    expect(wait).toBeLessThanOrEqual(cap);
    expect(backoffDelay(retry + 1, base, cap, () => 0)).toBeGreaterThanOrEqual(
      backoffDelay(retry, base, cap, () => 0),
    );
  });
});
