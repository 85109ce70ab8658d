import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';

/**
 * A budget configuration with exact decimal parameters: `percentE4` is budgetPercent × 10 000
 * (four decimal places, fractional percents included), `minTenths` is minRetriesPerSecond × 10.
 */
const config = fc.record({
  buckets: fc.integer({ min: 1, max: 20 }),
  bucketMs: fc.integer({ min: 1, max: 2000 }),
  percentE4: fc.oneof(
    fc.integer({ min: 0, max: 1_000_000 }), // 0 % to 100 % in steps of 0.0001 %
    fc.integer({ min: 0, max: 10_000_000 }), // up to 1000 %
    fc.constantFrom(300_000, 125_000, 1_000, 333_333, 200_000, 1), // 30 %, 12.5 %, 0.1 %, 33.3333 %, 20 %, 0.0001 %
  ),
  minTenths: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 20 }),
    fc.integer({ min: 0, max: 200 }),
  ),
  start: fc.integer({ min: 0, max: 1_000_000 }),
});

/**
 * One step of a traffic pattern: a gap in thousandths of the window, then a burst of `count`
 * requests or retry attempts at that instant. Bursts and short gaps crowd the bucket edges,
 * where a bucketed window is most likely to count wrong.
 */
const step = fc.record({
  gapPermille: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 100 }),
    fc.integer({ min: 0, max: 1500 }),
  ),
  retry: fc.boolean(),
  count: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 30 })),
});

describe('RetryBudget', () => {
  test.prop([config, fc.array(step, { maxLength: 200 })], { numRuns: 1000 })(
    'at every retry it admits, retries in the past windowMs ≤ max(floor, budgetPercent % of the requests in it) — exactly, with fractional percents',
    (cfg, events) => {
      const windowMs = cfg.buckets * cfg.bucketMs;
      const clock = new VirtualClock(cfg.start);
      const budget = new RetryBudget({
        budgetPercent: cfg.percentE4 / 10_000,
        minRetriesPerSecond: cfg.minTenths / 10,
        windowMs,
        buckets: cfg.buckets,
        clock,
      });
      // ⌊minRetriesPerSecond · windowMs / 1000⌋, in integers.
      const floor = Math.floor((cfg.minTenths * windowMs) / 10_000);
      expect(budget.minRetriesPerWindow).toBe(floor);

      const requests: number[] = [];
      const retries: number[] = [];
      const within = (times: readonly number[], from: number, to: number, openLeft: boolean) =>
        times.filter((t) => (openLeft ? t > from : t >= from) && t <= to).length;
      /** r ≤ max(floor, percent · d), as exact rationals. */
      const allowed = (r: number, d: number) =>
        r <= floor || BigInt(r) * 1_000_000n <= BigInt(cfg.percentE4) * BigInt(d);

      for (const e of events) {
        clock.advance(Math.floor((e.gapPermille * windowMs) / 1000));
        const now = clock.now();
        for (let i = 0; i < e.count; i++) {
          if (!e.retry) {
            budget.deposit();
            requests.push(now);
          } else if (budget.tryWithdraw()) {
            retries.push(now);
            // Safety: the window (now − windowMs, now] that ends at this retry.
            const r = within(retries, now - windowMs, now, true);
            const d = within(requests, now - windowMs, now, true);
            expect(allowed(r, d)).toBe(true);
          } else {
            // Liveness: it refuses only when even the most pessimistic bucketing would: retries
            // in (now − windowMs − bucketMs, now] plus this one exceed the budget of the
            // requests in [now − windowMs + bucketMs, now].
            const r = within(retries, now - windowMs - cfg.bucketMs, now, true);
            const d = within(requests, now - windowMs + cfg.bucketMs, now, false);
            expect(allowed(r + 1, d)).toBe(false);
          }
        }
      }
    },
  );

  it.each([
    [30, 300], // tower's `(1.0 / 0.3) as isize` = 3 would let 333 through
    [12.5, 125],
    [0.1, 1],
    [33.3333, 333],
    [100 / 3, 333], // 33.333…%: four decimals kept, rounded down
    [20, 200],
    [0, 0],
    [250, 2500],
  ])(
    'at %d %% of 1000 requests it allows exactly %d retries (no rounding in its favour)',
    (percent, expected) => {
      const budget = new RetryBudget({
        budgetPercent: percent,
        minRetriesPerSecond: 0,
        clock: new VirtualClock(),
      });
      for (let i = 0; i < 1000; i++) budget.deposit();
      let admitted = 0;
      while (budget.tryWithdraw()) admitted++;
      expect(admitted).toBe(expected);
      expect(budget.snapshot()).toEqual({ requests: 1000, retries: expected, available: 0 });
    },
  );

  it('interleaved: at 30 % every request allows 0.3 retries, never rounded up', () => {
    const budget = new RetryBudget({
      budgetPercent: 30,
      minRetriesPerSecond: 0,
      clock: new VirtualClock(),
    });
    let admitted = 0;
    for (let i = 1; i <= 1000; i++) {
      budget.deposit();
      if (budget.tryWithdraw()) admitted++;
      expect(admitted * 10).toBeLessThanOrEqual(3 * i);
    }
    expect(admitted).toBe(300);
  });

  it('allows minRetriesPerSecond · window retries with no traffic, then again a window later', () => {
    const clock = new VirtualClock();
    const budget = new RetryBudget({ minRetriesPerSecond: 10, windowMs: 10_000, clock });
    expect(budget.minRetriesPerWindow).toBe(100);
    let admitted = 0;
    while (budget.tryWithdraw()) admitted++;
    expect(admitted).toBe(100);
    // Retries are counted over one bucket more than the window: 10 s later they are still there.
    clock.advance(10_000);
    expect(budget.tryWithdraw()).toBe(false);
    clock.advance(1_000);
    expect(budget.snapshot().available).toBe(100);
    expect(budget.tryWithdraw()).toBe(true);
  });

  it('keeps a fractional floor exact: 0.1 retries per second over 10 s is one retry', () => {
    const budget = new RetryBudget({
      minRetriesPerSecond: 0.1,
      budgetPercent: 0,
      clock: new VirtualClock(),
    });
    expect(budget.minRetriesPerWindow).toBe(1);
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('forgets requests older than the window', () => {
    const clock = new VirtualClock();
    const budget = new RetryBudget({ budgetPercent: 50, minRetriesPerSecond: 0, clock });
    for (let i = 0; i < 100; i++) budget.deposit();
    expect(budget.snapshot().available).toBe(50);
    clock.advance(9_000); // still inside the window (bucket 9 of 0..9)
    expect(budget.snapshot().requests).toBe(100);
    clock.advance(1_000);
    expect(budget.snapshot()).toEqual({ requests: 0, retries: 0, available: 0 });
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('rolls bucket by bucket: requests leave the window one bucket at a time', () => {
    const clock = new VirtualClock();
    const budget = new RetryBudget({
      budgetPercent: 100,
      minRetriesPerSecond: 0,
      windowMs: 400,
      buckets: 4,
      clock,
    });
    for (let b = 0; b < 4; b++) {
      for (let i = 0; i <= b; i++) budget.deposit(); // 1, 2, 3, 4 requests in buckets 0..3
      clock.advance(100);
    }
    // Now in bucket 4: bucket 0 has left the request window.
    expect(budget.snapshot().requests).toBe(2 + 3 + 4);
    clock.advance(200);
    expect(budget.snapshot().requests).toBe(4);
    clock.advance(250); // jumps past everything
    expect(budget.snapshot().requests).toBe(0);
  });

  it('treats a clock that goes back as standing still', () => {
    const budget = new RetryBudget({ budgetPercent: 100, minRetriesPerSecond: 0 });
    budget.deposit(50_000);
    budget.deposit(10_000);
    expect(budget.snapshot(50_000).requests).toBe(2);
    expect(budget.tryWithdraw(1)).toBe(true);
    expect(budget.snapshot(50_000)).toEqual({ requests: 2, retries: 1, available: 1 });
  });

  it('uses the system clock by default', () => {
    const budget = new RetryBudget();
    budget.deposit();
    expect(budget.snapshot().requests).toBe(1);
    expect(budget.tryWithdraw()).toBe(true); // the floor allows 100 per 10 s
  });

  it.each([
    [{ budgetPercent: -1 }, 'RetryBudget: budgetPercent must be a number in [0, 1000], got -1'],
    [
      { budgetPercent: Number.NaN },
      'RetryBudget: budgetPercent must be a number in [0, 1000], got NaN',
    ],
    [
      { minRetriesPerSecond: -0.5 },
      'RetryBudget: minRetriesPerSecond must be a number in [0, 9007199254740991], got -0.5',
    ],
    [{ windowMs: 0 }, 'RetryBudget: windowMs must be a number in (0, 2147483647], got 0'],
    [{ buckets: 0 }, 'RetryBudget: buckets must be an integer in [1, 1000], got 0'],
    [{ buckets: 2.5 }, 'RetryBudget: buckets must be an integer in [1, 1000], got 2.5'],
  ])('rejects %j', (options, message) => {
    expect(() => new RetryBudget(options)).toThrow(new RangeError(message));
  });
});
