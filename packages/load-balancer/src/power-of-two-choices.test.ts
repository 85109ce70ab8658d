import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { seededRandom } from './random-source.js';

describe('PowerOfTwoChoices', () => {
  test.prop([fc.array(fc.nat(10), { minLength: 2, maxLength: 2 })])(
    'with two upstreams, always picks the less loaded one',
    (loads) => {
      const lb = new PowerOfTwoChoices({ upstreams: [{ name: 'a' }, { name: 'b' }] });
      loads.forEach((load, i) => {
        for (let k = 0; k < load; k++) lb.begin(lb.entries()[i]!);
      });
      const picked = lb.pickEntry()!;
      expect(picked.inFlight).toBe(Math.min(...loads));
    },
  );

  test.prop([
    fc.array(
      fc.record({
        inFlight: fc.nat(5),
        available: fc.boolean(),
        weight: fc.integer({ min: 1, max: 4 }),
      }),
      { minLength: 1, maxLength: 40 },
    ),
    fc.integer(),
  ])(
    'picks an available upstream whenever there is one, and never one loaded more than every other available one',
    (specs, seed) => {
      const lb = new PowerOfTwoChoices({
        upstreams: specs.map((s, i) => ({ name: `u${String(i)}`, weight: s.weight })),
        availability: [(u) => specs[Number(u.name.slice(1))]!.available],
        random: seededRandom(seed),
      });
      specs.forEach((s, i) => {
        for (let k = 0; k < s.inFlight; k++) lb.begin(lb.get(`u${String(i)}`)!);
      });
      const available = lb.entries().filter((e) => specs[Number(e.name.slice(1))]!.available);
      for (let i = 0; i < 20; i++) {
        const picked = lb.pickEntry();
        if (available.length === 0) {
          expect(picked).toBeUndefined();
          continue;
        }
        expect(available).toContain(picked);
        const cost = (e: typeof picked) => (e!.inFlight + 1) / e!.weight;
        // It beat another candidate, so unless it is the only one some available upstream costs as much or more.
        if (available.length > 1) {
          expect(available.some((e) => e !== picked && cost(e) >= cost(picked))).toBe(true);
        }
      }
    },
  );

  it('spreads calls far more evenly than one random choice (max in flight over 1000 upstreams)', () => {
    const upstreams = Array.from({ length: 1000 }, (_, i) => ({ name: `u${String(i)}` }));
    const p2c = new PowerOfTwoChoices({ upstreams, random: seededRandom(5) });
    for (let i = 0; i < 10_000; i++) p2c.begin(p2c.pickEntry()!);
    const max = Math.max(...p2c.entries().map((e) => e.inFlight));
    // 10 calls per upstream on average: one random choice gives a maximum near 22, two choices ≤ 13.
    expect(max).toBeLessThanOrEqual(13);
  });

  it('falls back to a scan when almost everything is unavailable', () => {
    const upstreams = Array.from({ length: 100 }, (_, i) => ({ name: `u${String(i)}` }));
    const p2c = new PowerOfTwoChoices({
      upstreams,
      availability: [(u) => u.name === 'u3' || u.name === 'u77'],
      random: seededRandom(6),
    });
    p2c.begin(p2c.get('u3')!);
    for (let i = 0; i < 20; i++) expect(p2c.pick()?.name).toBe('u77');
  });
});
