import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { type Admission, maxInWindow, rounding, steps } from '../test/traffic.js';
import { Gcra } from './gcra.js';
import { TokenBucket } from './token-bucket.js';

/** A quota: limit, period (integer or fractional ms) and a burst in [1, limit]. */
const quota = fc
  .record({
    limit: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 200 })),
    periodMs: fc.oneof(
      fc.integer({ min: 1, max: 60_000 }),
      fc.double({ min: 0.5, max: 10_000, noNaN: true }),
      fc.constantFrom(1000, 3000, 60_000),
    ),
    burstShare: fc.oneof(
      fc.constant(0),
      fc.constant(1),
      fc.double({ min: 0, max: 1, noNaN: true }),
    ),
  })
  .map(({ limit, periodMs, burstShare }) => ({
    limit,
    periodMs,
    burst: Math.max(1, Math.min(limit, Math.round(burstShare * limit))),
  }));

describe('Gcra', () => {
  /*
   * The proof the test checks. Let calls of integer costs c_1 … c_k be admitted at
   * t_1 ≤ … ≤ t_k with t_k − t_1 < periodMs, T = periodMs / (limit − burst + 1), L = burst · T.
   * Each admission books c_i · T on a schedule that never moves back, so after the k-th,
   * tat ≥ t_1 + Σc_i · T; and an admission at t_k leaves tat ≤ t_k + L. Hence
   * Σc_i · T ≤ (t_k − t_1) + burst · T < periodMs + burst · T = (limit + 1) · T: Σc_i ≤ limit.
   */
  // Traffic is drawn per quota, so that gaps are on the scale of the emission interval.
  const quotaAndTraffic = quota.chain((q) =>
    fc.tuple(fc.constant(q), steps(q.periodMs * 0.7, q.periodMs / (q.limit - q.burst + 1), 120)),
  );

  test.prop([quotaAndTraffic, fc.integer({ min: 0, max: 1e9 })], { numRuns: 500 })(
    'no window of periodMs ever holds more than limit (up to float rounding of times); every rejection names a wait > 0 after which the same cost is admitted',
    ([q, traffic], start) => {
      const clock = new VirtualClock(start);
      const gcra = new Gcra({ ...q, clock });
      const admitted: Admission[] = [];
      for (const step of traffic) {
        clock.advance(step.gapMs);
        const now = clock.now();
        const cost = Math.max(1, Math.round(step.costShare * q.burst));
        for (let i = 0; i < step.tries; i++) {
          const wait = gcra.admit(cost);
          if (wait === 0) {
            admitted.push({ at: now, cost });
            continue;
          }
          expect(wait).toBeGreaterThan(0);
          const probe = new Gcra(q);
          probe.tat = gcra.tat;
          expect(probe.admit(cost, now + wait)).toBe(0);
        }
      }
      expect(maxInWindow(admitted, q.periodMs)).toBeLessThanOrEqual(q.limit);
    },
  );

  test.prop([quota, fc.integer({ min: 2, max: 6 })], { numRuns: 300 })(
    'the bound is reached: a greedy caller gets exactly limit in its first period, then limit − burst + 1 per period',
    (q, periods) => {
      const gcra = new Gcra(q);
      const times: number[] = [];
      let now = 0;
      const end = periods * q.periodMs;
      while (now < end) {
        const wait = gcra.admit(1, now);
        if (wait === 0) times.push(now);
        else now += wait;
      }
      const inFirst = times.filter((t) => t < q.periodMs - rounding(t)).length;
      expect(inFirst).toBe(q.limit);
      const sustained = q.limit - q.burst + 1;
      const inLast = times.filter((t) => t >= end - q.periodMs && t < end).length;
      expect(Math.abs(inLast - sustained)).toBeLessThanOrEqual(1); // window edges fall between calls
      expect(gcra.emissionIntervalMs).toBeCloseTo(q.periodMs / sustained, 9);
    },
  );

  it('spaces calls evenly by default: 100 per minute is one every 600 ms', () => {
    const gcra = new Gcra({ limit: 100, periodMs: 60_000 });
    expect(gcra.admit(1, 0)).toBe(0);
    expect(gcra.admit(1, 0)).toBe(600);
    expect(gcra.admit(1, 599)).toBe(1);
    expect(gcra.admit(1, 600)).toBe(0);
    expect(gcra.remaining(600)).toBe(0);
    expect(gcra.remaining(1200)).toBe(1);
  });

  it('lets a burst through back to back and charges it against the sustained rate', () => {
    const gcra = new Gcra({ limit: 10, periodMs: 1000, burst: 6 }); // T = 1000 / 5 = 200 ms
    expect(gcra.remaining(0)).toBe(6);
    expect(gcra.admit(4, 0)).toBe(0); // a call of cost 4
    expect(gcra.admit(2, 0)).toBe(0);
    expect(gcra.admit(1, 0)).toBe(200);
    expect(gcra.admit(6, 200)).toBe(1000);
  });

  it('shows why T = period / limit with a burst tolerance is not a window limit', () => {
    // The common reading of GCRA (a token bucket of capacity limit refilled at limit per period)
    // admits 2 · limit − 1 in one period; Gcra does not.
    const naive = new TokenBucket({ capacity: 10, refillPerSecond: 10 });
    const strict = new Gcra({ limit: 10, periodMs: 1000, burst: 10 });
    const count = (admit: (now: number) => number): number => {
      let n = 0;
      for (let t = 0; t < 1000; t += 1) while (admit(t) === 0) n++;
      return n;
    };
    expect(count((t) => naive.admit(1, t))).toBe(19);
    expect(count((t) => strict.admit(1, t))).toBe(10);
  });

  it('rejects costs that are not integers in [1, burst]', () => {
    const gcra = new Gcra({ limit: 10, periodMs: 1000, burst: 3 });
    expect(() => gcra.admit(4)).toThrow(
      'Gcra: cost must be an integer in (0, 3], got 4 (a cost above the capacity 3 could never be admitted)',
    );
    expect(() => gcra.admit(1.5)).toThrow('Gcra: cost must be an integer in (0, 3], got 1.5');
    expect(() => gcra.admit(0)).toThrow(RangeError);
  });

  it('splits into shares for local fallbacks', () => {
    const gcra = new Gcra({ limit: 100, periodMs: 60_000, burst: 20 });
    const tenth = gcra.scaled(0.1);
    expect([tenth.limit, tenth.burst, tenth.periodMs]).toEqual([10, 2, 60_000]);
    const tiny = gcra.scaled(0.001);
    expect([tiny.limit, tiny.burst]).toEqual([1, 1]);
  });

  it.each([
    [{ limit: 0, periodMs: 1000 }, 'Gcra: limit must be an integer in [1, 1000000000], got 0'],
    [{ limit: 1.5, periodMs: 1000 }, 'Gcra: limit must be an integer in [1, 1000000000], got 1.5'],
    [{ limit: 5, periodMs: 0 }, 'Gcra: periodMs must be a number in (0, 1000000000000], got 0'],
    [{ limit: 5, periodMs: 10, burst: 6 }, 'Gcra: burst must be an integer in [1, 5], got 6'],
  ])('rejects %j', (options, message) => {
    expect(() => new Gcra(options)).toThrow(new RangeError(message));
  });
});
