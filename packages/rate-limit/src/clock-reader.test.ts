import { systemClock, VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { clockReader } from './clock-reader.js';
import { TokenBucket } from './token-bucket.js';

describe('clockReader', () => {
  it("reads core's system clock: the same monotonic time", () => {
    const read = clockReader(systemClock);
    const before = systemClock.now();
    const value = read();
    const after = systemClock.now();
    expect(value).toBeGreaterThanOrEqual(before);
    expect(value).toBeLessThanOrEqual(after);
  });

  it('reads any other clock through its now()', () => {
    const clock = new VirtualClock(1_000);
    const read = clockReader(clock);
    expect(read()).toBe(1_000);
    clock.advance(250);
    expect(read()).toBe(1_250);
  });

  it('is what a limiter reads when no time is given', () => {
    const clock = new VirtualClock(0);
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1, clock });
    expect(bucket.admit()).toBe(0);
    expect(bucket.admit()).toBe(1_000);
    clock.advance(1_000);
    expect(bucket.admit()).toBe(0);
  });
});
