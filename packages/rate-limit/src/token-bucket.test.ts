import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { type Admission, steps, worstRateExcess } from '../test/traffic.js';
import { ADMITTED } from './rate-limiter.js';
import { TokenBucket } from './token-bucket.js';

/** Rates from 0.1 to 1000 per second in tenths, plus awkward fractions. */
const rate = fc.oneof(
  fc.integer({ min: 1, max: 10_000 }).map((tenths) => tenths / 10),
  fc.constantFrom(1 / 3, 0.3, 2.5, 7, 1 / 7),
);
/** Capacities from 0.5 to 200, integer and fractional. */
const capacity = fc.oneof(
  fc.integer({ min: 1, max: 200 }),
  fc.integer({ min: 5, max: 2000 }).map((tenths) => tenths / 10),
);

describe('TokenBucket', () => {
  test.prop([capacity, rate, fc.integer({ min: 0, max: 1e9 }), steps(3000, 1000)], {
    numRuns: 400,
  })(
    'over any interval of t ms the admitted cost is at most capacity + refillPerSecond · t / 1000; every rejection names a wait > 0 after which the same cost is admitted',
    (cap, refillPerSecond, start, traffic) => {
      const clock = new VirtualClock(start);
      const bucket = new TokenBucket({ capacity: cap, refillPerSecond, clock });
      const admitted: Admission[] = [];
      for (const step of traffic) {
        clock.advance(step.gapMs);
        const now = clock.now();
        const cost = step.costShare * cap;
        for (let i = 0; i < step.tries; i++) {
          const wait = bucket.admit(cost);
          if (wait === 0) {
            admitted.push({ at: now, cost });
            continue;
          }
          expect(wait).toBeGreaterThan(0);
          // The same bucket state, asked again once `wait` has passed, admits the same cost;
          // asked a little earlier, it does not.
          const probe = new TokenBucket({ capacity: cap, refillPerSecond });
          probe.tat = bucket.tat;
          expect(probe.admit(cost, now + wait)).toBe(0);
          probe.tat = bucket.tat;
          // (Only where "a little" is well above the rounding of `now`.)
          if (wait > 1e-6 * Math.max(1, now)) {
            expect(probe.admit(cost, now + wait * 0.999)).toBeGreaterThan(0);
          }
        }
      }
      // Tolerance: floating-point rounding only (a millionth of a token).
      expect(worstRateExcess(admitted, cap, refillPerSecond / 1000)).toBeLessThanOrEqual(1e-6);
    },
  );

  test.prop([capacity, rate, fc.integer({ min: 1, max: 100 })], { numRuns: 200 })(
    'a greedy caller gets exactly the capacity at once and then the refill rate',
    (cap, refillPerSecond, seconds) => {
      const bucket = new TokenBucket({ capacity: cap, refillPerSecond, clock: new VirtualClock() });
      const cost = Math.min(1, cap);
      let admitted = 0;
      while (bucket.admit(cost, 0) === 0) admitted += cost;
      expect(admitted).toBeLessThanOrEqual(cap + 1e-9);
      expect(admitted).toBeGreaterThan(cap - cost - 1e-9);
      // Later, the bucket holds exactly what refilled (up to the capacity).
      const t = seconds * 1000;
      expect(bucket.tokens(t)).toBeCloseTo(
        Math.min(cap, cap - admitted + refillPerSecond * seconds),
        6,
      );
    },
  );

  it('starts full, empties, and refills at the configured rate', () => {
    const clock = new VirtualClock();
    const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 10, clock });
    let admitted = 0;
    while (bucket.admit() === 0) admitted++;
    expect(admitted).toBe(10);
    expect(bucket.admit()).toBe(100); // one token every 100 ms
    clock.advance(99);
    expect(bucket.admit()).toBeCloseTo(1, 9);
    clock.advance(1);
    expect(bucket.admit()).toBe(0);
    clock.advance(60_000);
    expect(bucket.tokens()).toBe(10); // never more than the capacity
    expect(bucket.backlog()).toBe(0);
  });

  it('charges costs: a heavy call takes several tokens and waits for all of them', () => {
    const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 1 });
    expect(bucket.admit(7, 0)).toBe(0);
    expect(bucket.tokens(0)).toBe(3);
    expect(bucket.admit(5, 0)).toBe(2000); // two more tokens needed: 2 s
    expect(bucket.admit(3, 0)).toBe(0);
    expect(bucket.admit(10, 0)).toBe(10_000);
    expect(bucket.admit(0.5, 500)).toBe(0); // fractional costs are fine
  });

  it('allows fractional rates: 0.5 per second is one every 2 s', () => {
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 0.5 });
    expect(bucket.admit(1, 0)).toBe(0);
    expect(bucket.admit(1, 1)).toBe(1999);
    expect(bucket.admit(1, 2000)).toBe(0);
  });

  it('offers the decision as an object, allocating only for a rejection', () => {
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1 });
    expect(bucket.tryAdmit(1, 0)).toBe(ADMITTED);
    expect(bucket.tryAdmit(1, 0)).toEqual({ admitted: false, retryAfterMs: 1000 });
    expect(Object.isFrozen(ADMITTED)).toBe(true);
    bucket.reset();
    expect(bucket.tryAdmit(1, 0)).toBe(ADMITTED);
  });

  it('rejects a cost it could never admit with a RangeError naming cost and capacity', () => {
    const bucket = new TokenBucket({ capacity: 5, refillPerSecond: 1 });
    expect(() => bucket.admit(6)).toThrow(
      new RangeError(
        'TokenBucket: cost must be a number in (0, 5], got 6 (a cost above the capacity 5 could never be admitted)',
      ),
    );
    for (const cost of [0, -1, Number.NaN, Infinity]) {
      expect(() => bucket.admit(cost)).toThrow(RangeError);
    }
    expect(bucket.admit(5)).toBe(0); // nothing was charged by the refused calls
  });

  it('uses the system clock by default and splits into shares', () => {
    const bucket = new TokenBucket({ capacity: 2, refillPerSecond: 4 });
    expect(bucket.admit()).toBe(0);
    expect(bucket.admit()).toBe(0);
    expect(bucket.admit()).toBeGreaterThan(0);
    const quarter = bucket.scaled(0.25);
    expect([quarter.capacity, quarter.refillPerSecond]).toEqual([0.5, 1]);
    expect(() => bucket.scaled(0)).toThrow(RangeError);
  });

  it.each([
    [
      { capacity: 0, refillPerSecond: 1 },
      'TokenBucket: capacity must be a number in (0, 1000000000000], got 0',
    ],
    [
      { capacity: 1, refillPerSecond: -1 },
      'TokenBucket: refillPerSecond must be a number in (0, 1000000000000], got -1',
    ],
    [
      { capacity: 1, refillPerSecond: Infinity },
      'TokenBucket: refillPerSecond must be a number in (0, 1000000000000], got Infinity',
    ],
  ])('rejects %j', (options, message) => {
    expect(() => new TokenBucket(options)).toThrow(new RangeError(message));
  });
});
