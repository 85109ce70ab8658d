import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { type Admission, costIn, maxInWindow, rounding, steps } from '../test/traffic.js';
import { SlidingWindow } from './sliding-window.js';

const config = fc.record({
  limit: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 300 })),
  windowMs: fc.oneof(
    fc.integer({ min: 1, max: 60_000 }),
    fc.double({ min: 0.5, max: 10_000, noNaN: true }),
    fc.constantFrom(1000, 60_000),
  ),
  buckets: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 10, 60)),
});

const configAndTraffic = config.chain((c) =>
  fc.tuple(fc.constant(c), steps(c.windowMs / 3, c.windowMs / c.buckets, 120)),
);

/** A window that has admitted exactly `admitted`, in order. */
function replay(c: { limit: number; windowMs: number; buckets: number }, admitted: Admission[]) {
  const window = new SlidingWindow(c);
  for (const { at, cost } of admitted) expect(window.admit(cost, at)).toBe(0);
  return window;
}

describe('SlidingWindow', () => {
  test.prop([configAndTraffic, fc.integer({ min: 0, max: 1e9 })], { numRuns: 500 })(
    'no window of windowMs ever holds more than limit; it refuses only when the last windowMs + one bucket leave no room; every wait is > 0 and enough',
    ([c, traffic], start) => {
      const clock = new VirtualClock(start);
      const window = new SlidingWindow({ ...c, clock });
      const bucketMs = c.windowMs / c.buckets;
      const admitted: Admission[] = [];
      let retryChecks = 0;
      for (const step of traffic) {
        clock.advance(step.gapMs);
        const now = clock.now();
        const cost = Math.max(1, Math.round(step.costShare * c.limit));
        for (let i = 0; i < step.tries; i++) {
          const wait = window.admit(cost);
          if (wait === 0) {
            admitted.push({ at: now, cost });
            continue;
          }
          expect(wait).toBeGreaterThan(0);
          // Liveness: never more cautious than one bucket.
          const recent = costIn(admitted, now - c.windowMs - bucketMs - rounding(now), now);
          expect(recent + cost).toBeGreaterThan(c.limit);
          if (retryChecks++ < 10) {
            expect(replay(c, admitted).admit(cost, now + wait)).toBe(0);
          }
        }
      }
      expect(maxInWindow(admitted, c.windowMs)).toBeLessThanOrEqual(c.limit);
    },
  );

  test.prop([config], { numRuns: 300 })(
    'a greedy caller gets exactly limit in its first window',
    (c) => {
      const window = new SlidingWindow(c);
      let n = 0;
      while (window.admit(1, 0) === 0) n++;
      expect(n).toBe(c.limit);
      expect(window.remaining(0)).toBe(0);
    },
  );

  it('has no boundary burst: the full limit at the end of one window is still counted in the next', () => {
    const window = new SlidingWindow({ limit: 10, windowMs: 1000, buckets: 10 });
    for (let i = 0; i < 10; i++) expect(window.admit(1, 999)).toBe(0);
    // A fixed window would admit 10 more at t = 1000.
    expect(window.admit(1, 1000)).toBe(1000); // bucket 9 (900–999) expires when bucket 20 starts
    expect(window.admit(1, 1999)).toBe(1);
    expect(window.admit(1, 2000)).toBe(0);
  });

  it('frees room bucket by bucket, oldest first', () => {
    const window = new SlidingWindow({ limit: 3, windowMs: 300, buckets: 3 }); // 100 ms buckets
    expect(window.admit(1, 0)).toBe(0);
    expect(window.admit(1, 150)).toBe(0);
    expect(window.admit(1, 250)).toBe(0);
    expect(window.remaining(250)).toBe(0);
    expect(window.admit(1, 260)).toBe(140); // bucket 0 leaves when bucket 4 starts (t = 400)
    expect(window.admit(2, 260)).toBe(240); // two need buckets 0 and 1: t = 500
    expect(window.remaining(400)).toBe(1);
    window.reset();
    expect(window.remaining(400)).toBe(3);
  });

  it('rejects costs that are not integers in [1, limit]', () => {
    const window = new SlidingWindow({ limit: 5, windowMs: 1000 });
    expect(() => window.admit(6)).toThrow(
      'SlidingWindow: cost must be an integer in (0, 5], got 6 (a cost above the capacity 5 could never be admitted)',
    );
    expect(() => window.admit(0.5)).toThrow(RangeError);
    expect(window.tryAdmit(5)).toEqual({ admitted: true, retryAfterMs: 0 });
    expect(window.tryAdmit(1).admitted).toBe(false);
    expect(window.scaled(0.5).limit).toBe(2);
  });

  it.each([
    [
      { limit: 0, windowMs: 1000 },
      'SlidingWindow: limit must be an integer in [1, 1000000000], got 0',
    ],
    [
      { limit: 1, windowMs: -5 },
      'SlidingWindow: windowMs must be a number in (0, 1000000000000], got -5',
    ],
    [
      { limit: 1, windowMs: 5, buckets: 0 },
      'SlidingWindow: buckets must be an integer in [1, 1000], got 0',
    ],
  ])('rejects %j', (options, message) => {
    expect(() => new SlidingWindow(options)).toThrow(new RangeError(message));
  });
});
