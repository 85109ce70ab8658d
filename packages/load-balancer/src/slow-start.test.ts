import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { seededRandom } from './random-source.js';
import { resolveSlowStart, slowStartFactor } from './slow-start.js';

describe('slow start', () => {
  test.prop([
    fc.integer({ min: 1, max: 100_000 }),
    fc.double({ min: 0.1, max: 10, noNaN: true }),
    fc.integer({ min: 0, max: 100 }),
    fc.array(fc.double({ min: 0, max: 200_000, noNaN: true }), { minLength: 2, maxLength: 20 }),
  ])(
    'the weight factor rises monotonically from the minimum to exactly 1 at the end of the window',
    (windowMs, aggression, minWeightPercent, times) => {
      const settings = resolveSlowStart('test', { windowMs, aggression, minWeightPercent })!;
      const sorted = [...times].sort((a, b) => a - b);
      let previous = 0;
      for (const t of sorted) {
        const factor = slowStartFactor(settings, t);
        expect(factor).toBeGreaterThanOrEqual(previous);
        expect(factor).toBeGreaterThanOrEqual(Math.min(1, minWeightPercent / 100));
        expect(factor).toBeLessThanOrEqual(1);
        if (t >= windowMs) expect(factor).toBe(1);
        previous = factor;
      }
    },
  );

  it('keeps a newly added upstream below its share while it ramps (P2C)', () => {
    const clock = new VirtualClock();
    const p2c = new PowerOfTwoChoices({
      upstreams: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
      slowStart: { windowMs: 10_000, minWeightPercent: 10 },
      clock,
      random: seededRandom(9),
    });
    const fresh = p2c.add({ name: 'fresh' });
    // Fill the pool: with weight 0.1 the fresh upstream's cost is 10× higher per call.
    for (let i = 0; i < 400; i++) p2c.begin(p2c.pickEntry()!);
    expect(fresh.inFlight).toBeLessThan(20);
    clock.advance(10_000);
    expect(fresh.effectiveWeight).toBe(1);
    for (let i = 0; i < 400; i++) p2c.begin(p2c.pickEntry()!);
    expect(fresh.inFlight).toBeGreaterThan(100); // it catches up once at full weight
  });
});
