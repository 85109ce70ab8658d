import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { FailureRateWindow } from './failure-rate.js';

describe('FailureRateWindow', () => {
  test.prop([
    fc.record({
      windowMs: fc.integer({ min: 10, max: 1_000 }),
      buckets: fc.integer({ min: 1, max: 20 }),
      threshold: fc.double({ min: 0.01, max: 1, noNaN: true }),
      minimumThroughput: fc.integer({ min: 1, max: 10 }),
    }),
    fc.array(fc.record({ gap: fc.integer({ min: 0, max: 300 }), failed: fc.boolean() }), {
      maxLength: 200,
    }),
  ])(
    'counts exactly the calls of the buckets still in the window and trips on the stated rule',
    (options, events) => {
      const clock = new VirtualClock();
      const window = new FailureRateWindow(options);
      const bucketMs = options.windowMs / options.buckets;
      const log: { epoch: number; failed: boolean }[] = [];
      for (const { gap, failed } of events) {
        clock.advance(gap);
        const epoch = Math.floor(clock.now() / bucketMs);
        log.push({ epoch, failed });
        const inWindow = log.filter((e) => e.epoch > epoch - options.buckets);
        const calls = inWindow.length;
        const failures = inWindow.filter((e) => e.failed).length;
        if (failed) {
          const tripped = window.failure(clock);
          expect(tripped).toBe(
            calls >= options.minimumThroughput && failures >= options.threshold * calls,
          );
        } else {
          window.success(clock);
        }
        expect(window.calls).toBe(calls);
        expect(window.failures).toBe(failures);
      }
    },
  );

  it('forgets everything on reset', () => {
    const clock = new VirtualClock();
    const window = new FailureRateWindow({ threshold: 0.5, minimumThroughput: 1 });
    window.failure(clock);
    window.reset();
    expect([window.calls, window.failures]).toEqual([0, 0]);
    window.success(clock);
    expect(window.calls).toBe(1);
  });

  it('validates its options', () => {
    expect(() => new FailureRateWindow({ threshold: 0 })).toThrow(
      'failureRate: threshold must be a number in (0, 1], got 0',
    );
    expect(() => new FailureRateWindow({ threshold: 0.5, buckets: 0 })).toThrow(
      'failureRate: buckets must be an integer in [1, 1000], got 0',
    );
    expect(() => new FailureRateWindow({ threshold: 0.5, minimumThroughput: 0 })).toThrow(
      'failureRate: minimumThroughput must be an integer >= 1, got 0',
    );
    expect(() => new FailureRateWindow({ threshold: 0.5, windowMs: -1 })).toThrow(
      'failureRate: windowMs must be',
    );
  });
});
