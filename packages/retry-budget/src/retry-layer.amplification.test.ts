/**
 * The headline claim: when everything fails, a budget holds the upstream attempts to
 * (1 + budgetPercent) × client requests, where a plain `maxAttempts: 3` triples them. Runs the
 * layer and the budget together on virtual time against an upstream that always fails.
 */
import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { RetryBudget } from './retry-budget.js';
import { RetryLayer } from './retry-layer.js';

/** A small deterministic PRNG (mulberry32), so every run makes the same waits. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  /** Calls made by clients. */
  readonly requests: number;
  /** Calls that reached the upstream (first attempts and retries). */
  readonly attempts: number;
  /** Times of the client calls (the budget's deposits). */
  readonly requestTimes: readonly number[];
  /** Times at which retries were granted (the budget's withdrawals). */
  readonly retryTimes: readonly number[];
}

/**
 * Sends one client call every `intervalMs` for `requests` calls through RetryLayer(maxAttempts
 * 3, 25 ms base, 1 s cap) to an upstream that always answers 503, then lets every call finish.
 */
async function steadyLoad(
  requests: number,
  intervalMs: number,
  budget: RetryBudget | undefined,
  clock: VirtualClock,
): Promise<Run> {
  const layer = new RetryLayer({
    maxAttempts: 3,
    baseDelayMs: 25,
    maxDelayMs: 1000,
    budget,
    clock,
    random: seeded(42),
  });
  const retryTimes: number[] = [];
  layer.onRetry(() => retryTimes.push(clock.now()));
  let attempts = 0;
  const service = layer.wrap(async () => {
    attempts++;
    return { status: 503 };
  });
  const requestTimes: number[] = [];
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < requests; i++) {
    requestTimes.push(clock.now());
    calls.push(service(undefined));
    await clock.advanceAsync(intervalMs);
  }
  await clock.advanceAsync(5_000); // every wait is at most 1 s, at most 2 waits per call
  const results = await Promise.all(calls);
  expect(results.every((r) => (r as { status: number }).status === 503)).toBe(true);
  expect(clock.pendingTimers()).toBe(0);
  return { requests, attempts, requestTimes, retryTimes };
}

/**
 * Every granted retry checked against the window (t − windowMs, t] that ends at it:
 * retries ≤ max(floor, percent % · requests), compared exactly (percent has 4 decimals).
 */
function checkEveryWindow(run: Run, windowMs: number, floor: number, percent: number): void {
  const percentE4 = BigInt(Math.round(percent * 10_000));
  for (const t of run.retryTimes) {
    const retries = run.retryTimes.filter((x) => x > t - windowMs && x <= t).length;
    const requests = run.requestTimes.filter((x) => x > t - windowMs && x <= t).length;
    const withinRatio = BigInt(retries) * 1_000_000n <= percentE4 * BigInt(requests);
    expect(retries <= floor || withinRatio).toBe(true);
  }
}

describe('RetryLayer with a RetryBudget under a total outage', () => {
  it('holds 1000 client requests to ≤ 1200 upstream attempts (1.2×), where maxAttempts alone makes 3000 (3×)', async () => {
    // 1000 requests at 200/s take 5 s; with waits of at most 2 × 1 s every retry falls inside
    // one 10 s window. The budget then allows at most
    //   max(minRetriesPerSecond · 10 s, 20 % · 1000) = max(100, 200) = 200 retries,
    // so upstream attempts ≤ 1000 + 200 = 1200 = (1 + 0.20) × requests.
    const clock = new VirtualClock();
    const budget = new RetryBudget({
      budgetPercent: 20,
      minRetriesPerSecond: 10,
      windowMs: 10_000,
      clock,
    });
    const withBudget = await steadyLoad(1000, 5, budget, clock);
    const span = Math.max(...withBudget.retryTimes) - Math.min(...withBudget.requestTimes);
    expect(span).toBeLessThan(10_000);
    expect(withBudget.attempts).toBeLessThanOrEqual(1200);
    expect(withBudget.attempts).toBe(withBudget.requests + withBudget.retryTimes.length);
    // The floor lets the first second retry freely, then the ratio takes over: the budget is
    // used, not just refused.
    expect(withBudget.attempts).toBeGreaterThan(1150);

    const without = await steadyLoad(1000, 5, undefined, new VirtualClock());
    expect(without.attempts).toBe(3000);
  });

  it('over a minute of steady load (6000 requests, 6 windows) keeps every window within budget', async () => {
    const clock = new VirtualClock();
    const budget = new RetryBudget({
      budgetPercent: 20,
      minRetriesPerSecond: 10,
      windowMs: 10_000,
      clock,
    });
    const run = await steadyLoad(6000, 10, budget, clock);
    checkEveryWindow(run, 10_000, 100, 20);
    // Overall: 20 % of the requests plus at most one window's floor (spent at the start, before
    // there is traffic to take 20 % of).
    expect(run.attempts).toBeLessThanOrEqual(6000 * 1.2 + 100);
    const without = await steadyLoad(6000, 10, undefined, new VirtualClock());
    expect(without.attempts).toBe(18_000);
  });

  test.prop(
    [
      fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 300 }),
      fc.integer({ min: 0, max: 500_000 }).map((e4) => e4 / 10_000), // 0 to 50 %, 4 decimals
      fc.integer({ min: 0, max: 30 }).map((tenths) => tenths / 10),
      fc.constantFrom(1000, 2000, 5000),
      fc.integer(),
    ],
    { numRuns: 25 },
  )(
    'through the layer, for any traffic pattern: retries in every window ≤ max(minRetriesPerSecond·window, budgetPercent·requests)',
    async (gaps, budgetPercent, minRetriesPerSecond, windowMs, seed) => {
      const clock = new VirtualClock();
      const budget = new RetryBudget({ budgetPercent, minRetriesPerSecond, windowMs, clock });
      const random = seeded(seed);
      const layer = new RetryLayer({
        maxAttempts: 4,
        baseDelayMs: 10,
        maxDelayMs: 300,
        budget,
        clock,
        random,
      });
      const retryTimes: number[] = [];
      layer.onRetry(() => retryTimes.push(clock.now()));
      const service = layer.wrap(async () => ({ status: random() < 0.8 ? 503 : 200 }));
      const requestTimes: number[] = [];
      const calls: Promise<unknown>[] = [];
      for (const gap of gaps) {
        await clock.advanceAsync(gap);
        requestTimes.push(clock.now());
        calls.push(service(undefined));
      }
      await clock.advanceAsync(2_000);
      await Promise.all(calls);
      const floor = budget.minRetriesPerWindow;
      expect(floor).toBe(Math.floor((minRetriesPerSecond * 10 * windowMs) / 10_000));
      checkEveryWindow(
        { requests: gaps.length, attempts: 0, requestTimes, retryTimes },
        windowMs,
        floor,
        budgetPercent,
      );
    },
  );
});
