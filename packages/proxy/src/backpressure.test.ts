import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { Backpressure } from './backpressure.js';

describe('Backpressure', () => {
  it('admits up to max, refuses the rest without queueing, and frees slots on release', () => {
    const gate = new Backpressure(2);
    expect(gate.tryAcquire()).toBe(true);
    expect(gate.tryAcquire()).toBe(true);
    expect(gate.tryAcquire()).toBe(false);
    expect(gate.inFlight).toBe(2);
    gate.release();
    expect(gate.tryAcquire()).toBe(true);
  });

  it('validates maxInFlight', () => {
    expect(() => new Backpressure(0)).toThrow(/maxInFlight must be an integer in \[1, 1000000\]/);
    expect(() => new Backpressure(1.5)).toThrow(RangeError);
  });

  test.prop([fc.integer({ min: 1, max: 20 }), fc.array(fc.boolean(), { maxLength: 200 })])(
    'never holds more than max, and a refusal takes nothing',
    (max, ops) => {
      const gate = new Backpressure(max);
      let held = 0;
      for (const acquire of ops) {
        if (acquire) {
          const admitted = gate.tryAcquire();
          expect(admitted).toBe(held < max);
          if (admitted) held++;
        } else if (held > 0) {
          gate.release();
          held--;
        }
        expect(gate.inFlight).toBe(held);
        expect(gate.inFlight).toBeLessThanOrEqual(max);
      }
    },
  );
});
