import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { seededRandom } from './random-source.js';
import { Random } from './random.js';

function shares(lb: Random, picks: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const name = lb.pick()?.name ?? '-';
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return new Map([...counts].map(([name, count]) => [name, count / picks]));
}

describe('Random', () => {
  test.prop(
    [
      fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
      fc.integer(),
    ],
    { numRuns: 40 },
  )(
    'picks each available upstream with probability weight / Σ available weights (±0.02 over 20 000 picks)',
    (weights, down, seed) => {
      const lb = new Random({
        upstreams: weights.map((weight, i) => ({ name: `u${String(i)}`, weight })),
        availability: [(u) => down[Number(u.name.slice(1))] !== true],
        random: seededRandom(seed),
      });
      const available = weights.map((w, i) => (down[i] === true ? 0 : w));
      const total = available.reduce((a, b) => a + b, 0);
      const measured = shares(lb, 20_000);
      if (total === 0) {
        expect(measured.get('-')).toBe(1);
        return;
      }
      available.forEach((w, i) => {
        expect(Math.abs((measured.get(`u${String(i)}`) ?? 0) - w / total)).toBeLessThan(0.02);
      });
    },
  );

  it('uses equal-weight draws, cumulative weights and the fallback scan alike', () => {
    const equal = new Random({
      upstreams: [{ name: 'a' }, { name: 'b' }],
      random: seededRandom(1),
    });
    expect(shares(equal, 10_000).get('a')).toBeCloseTo(0.5, 1);
    // 1 upstream of 50 available: draws mostly miss, the scan finds it.
    const sparse = new Random({
      upstreams: Array.from({ length: 50 }, (_, i) => ({
        name: `u${String(i)}`,
        weight: 1 + (i % 3),
      })),
      availability: [(u) => u.name === 'u17'],
      random: seededRandom(2),
    });
    expect(shares(sparse, 200).get('u17')).toBe(1);
  });
});
