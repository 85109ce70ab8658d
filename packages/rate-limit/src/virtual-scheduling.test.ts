import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { KeyedRateLimiter } from './keyed-rate-limiter.js';
import { LeakyBucket } from './leaky-bucket.js';
import { bookAfter } from './rate-limiter.js';
import { TokenBucket } from './token-bucket.js';

describe('bookAfter', () => {
  test.prop(
    [
      fc.double({ min: -1e15, max: 1e15, noNaN: true }),
      fc.oneof(
        fc.double({ min: Number.MIN_VALUE, max: 1e-3, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e9, noNaN: true }),
      ),
    ],
    { numRuns: 1000 },
  )('always moves the schedule, and never by less than the booking', (base, booked) => {
    const next = bookAfter(base, booked);
    expect(next).toBeGreaterThan(base);
    expect(next).toBeGreaterThanOrEqual(base + booked);
  });
});

describe('a schedule at epoch milliseconds', () => {
  // At 1.7e12 ms one unit in the last place is 2.4e-4 ms; these calls book 5e-8 ms each.
  const now = 1.7e12;
  const tiny = 50e-9;

  it.each([
    ['TokenBucket', () => new TokenBucket({ capacity: 50, refillPerSecond: 960.9 })],
    ['LeakyBucket', () => new LeakyBucket({ queueSize: 50, drainPerSecond: 960.9 })],
  ])('%s charges a cost too small to move it instead of admitting it for nothing', (_, make) => {
    const limiter = make();
    expect(limiter.admit(50, now)).toBe(0); // full
    let admitted = 0;
    for (let i = 0; i < 1_000; i++) if (limiter.admit(tiny, now) === 0) admitted++;
    expect(admitted).toBeLessThanOrEqual(1);
  });

  it('KeyedRateLimiter charges it too, for a new key and a known one', () => {
    const limiter = new KeyedRateLimiter({
      limiter: new TokenBucket({ capacity: tiny, refillPerSecond: 960.9 }),
    });
    let admitted = 0;
    for (let i = 0; i < 1_000; i++) if (limiter.admit('k', tiny, now) === 0) admitted++;
    expect(admitted).toBe(1); // the new key's call; every later one waits
  });
});
