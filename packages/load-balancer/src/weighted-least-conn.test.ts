import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { seededRandom } from './random-source.js';
import { WeightedLeastConn } from './weighted-least-conn.js';

const spec = fc.record({
  weight: fc.integer({ min: 1, max: 8 }),
  inFlight: fc.nat(6),
  available: fc.boolean(),
});

describe('WeightedLeastConn', () => {
  test.prop([fc.array(spec, { minLength: 1, maxLength: 10 }), fc.integer(), fc.nat(20)], {
    numRuns: 300,
  })(
    'never picks an upstream strictly more loaded (in-flight / weight) than an available one, nor an unavailable one',
    (specs, seed, extraPicks) => {
      const lb = new WeightedLeastConn({
        upstreams: specs.map((s, i) => ({ name: `u${String(i)}`, weight: s.weight })),
        availability: [(u) => specs[Number(u.name.slice(1))]!.available],
        random: seededRandom(seed),
      });
      specs.forEach((s, i) => {
        for (let k = 0; k < s.inFlight; k++) lb.begin(lb.get(`u${String(i)}`)!);
      });
      // Keep picking and starting calls, so loads move between picks.
      for (let round = 0; round <= extraPicks; round++) {
        const picked = lb.pickEntry();
        const candidates = lb.entries().filter((e) => specs[Number(e.name.slice(1))]!.available);
        if (candidates.length === 0) {
          expect(picked).toBeUndefined();
          return;
        }
        expect(picked).toBeDefined();
        expect(candidates).toContain(picked);
        const load = picked!.inFlight / picked!.weight;
        for (const other of candidates)
          expect(load).toBeLessThanOrEqual(other.inFlight / other.weight);
        lb.begin(picked!);
      }
    },
  );

  it('breaks ties at random in proportion to weight, so an idle pool honours weights', () => {
    const lb = new WeightedLeastConn({
      upstreams: [
        { name: 'big', weight: 3 },
        { name: 'small', weight: 1 },
      ],
      random: seededRandom(3),
    });
    let big = 0;
    for (let i = 0; i < 4_000; i++) if (lb.pick()?.name === 'big') big++;
    expect(big / 4_000).toBeCloseTo(0.75, 1);
  });

  it('fills upstreams in proportion to weight as calls pile up', () => {
    const lb = new WeightedLeastConn({
      upstreams: [
        { name: 'a', weight: 4 },
        { name: 'b', weight: 2 },
        { name: 'c', weight: 1 },
      ],
      random: seededRandom(4),
    });
    for (let i = 0; i < 70; i++) lb.begin(lb.pickEntry()!);
    expect(lb.entries().map((e) => e.inFlight)).toEqual([40, 20, 10]);
  });
});
