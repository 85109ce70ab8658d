import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { TokenBucketRetryBudget } from './token-bucket-budget.js';

describe('TokenBucketRetryBudget', () => {
  test.prop(
    [
      fc.integer({ min: 1, max: 10_000 }).map((tenths) => tenths / 10), // 0.1 to 1000 retries/s
      fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
      fc.array(
        fc.record({
          gapMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3000 })),
          tries: fc.integer({ min: 1, max: 20 }),
        }),
        { maxLength: 100 },
      ),
    ],
    { numRuns: 300 },
  )(
    'over any interval of t ms it allows at most burst + retriesPerSecond · t / 1000 retries',
    (retriesPerSecond, burst, steps) => {
      const clock = new VirtualClock(1_000);
      const budget = new TokenBucketRetryBudget({
        retriesPerSecond,
        ...(burst === undefined ? {} : { burst }),
        clock,
      });
      const capacity = burst ?? Math.max(1, retriesPerSecond);
      expect(budget.burst).toBe(capacity);
      const admitted: number[] = [];
      for (const s of steps) {
        clock.advance(s.gapMs);
        budget.deposit(); // has no effect on this budget
        for (let i = 0; i < s.tries; i++) if (budget.tryWithdraw()) admitted.push(clock.now());
      }
      // Every interval [admitted[i], admitted[j]] (the tightest ones) stays within the bound;
      // the tolerance covers floating-point rounding only.
      let worst = -Infinity;
      for (let i = 0; i < admitted.length; i++) {
        for (let j = i; j < admitted.length; j++) {
          const t = (admitted[j] ?? 0) - (admitted[i] ?? 0);
          worst = Math.max(worst, j - i + 1 - (capacity + (retriesPerSecond * t) / 1000));
        }
      }
      expect(worst).toBeLessThanOrEqual(1e-9);
    },
  );

  it('starts full, empties, and refills at the configured rate', () => {
    const clock = new VirtualClock();
    const budget = new TokenBucketRetryBudget({ retriesPerSecond: 10, clock });
    let admitted = 0;
    while (budget.tryWithdraw()) admitted++;
    expect(admitted).toBe(10);
    clock.advance(99);
    expect(budget.tryWithdraw()).toBe(false);
    clock.advance(1); // 100 ms at 10/s is one token
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    clock.advance(60_000);
    expect(budget.available()).toBe(10); // never more than the burst
  });

  it('does not grow with traffic: deposits change nothing', () => {
    const clock = new VirtualClock();
    const budget = new TokenBucketRetryBudget({ retriesPerSecond: 1, burst: 2, clock });
    for (let i = 0; i < 1000; i++) budget.deposit();
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('allows fractional rates: 0.5 retries per second is one every 2 s', () => {
    const clock = new VirtualClock();
    const budget = new TokenBucketRetryBudget({ retriesPerSecond: 0.5, clock });
    expect(budget.burst).toBe(1);
    expect(budget.tryWithdraw()).toBe(true);
    clock.advance(1_999);
    expect(budget.tryWithdraw()).toBe(false);
    clock.advance(1);
    expect(budget.tryWithdraw()).toBe(true);
  });

  it('uses the system clock by default', () => {
    const budget = new TokenBucketRetryBudget({ retriesPerSecond: 1 });
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it.each([
    [
      { retriesPerSecond: 0 },
      'TokenBucketRetryBudget: retriesPerSecond must be a number in (0, 1000000000], got 0',
    ],
    [
      { retriesPerSecond: Number.POSITIVE_INFINITY },
      'TokenBucketRetryBudget: retriesPerSecond must be a number in (0, 1000000000], got Infinity',
    ],
    [
      { retriesPerSecond: 10, burst: 0.5 },
      'TokenBucketRetryBudget: burst must be a number in [1, 1000000000], got 0.5',
    ],
  ])('rejects %j', (options, message) => {
    expect(() => new TokenBucketRetryBudget(options)).toThrow(new RangeError(message));
  });
});
