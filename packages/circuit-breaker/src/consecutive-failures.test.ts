import { fc, test } from '@fast-check/vitest';
import { systemClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { ConsecutiveFailures, consecutiveFailures } from './consecutive-failures.js';

describe('ConsecutiveFailures', () => {
  test.prop([fc.integer({ min: 1, max: 10 }), fc.array(fc.boolean(), { maxLength: 100 })])(
    'trips exactly when the current run of failures reaches the threshold',
    (threshold, outcomes) => {
      const strategy = consecutiveFailures(threshold)();
      let run = 0;
      for (const failed of outcomes) {
        if (failed) {
          run++;
          expect(strategy.failure(systemClock)).toBe(run >= threshold);
        } else {
          run = 0;
          strategy.success(systemClock);
        }
      }
    },
  );

  it('starts over after reset and validates the threshold', () => {
    const strategy = new ConsecutiveFailures(2);
    strategy.failure();
    strategy.reset();
    expect(strategy.failure()).toBe(false);
    expect(strategy.failures).toBe(1);
    expect(() => consecutiveFailures(0)).toThrow(
      'consecutiveFailures: threshold must be an integer >= 1, got 0',
    );
  });
});
