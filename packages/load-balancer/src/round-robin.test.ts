import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { RoundRobin } from './round-robin.js';
import type { UpstreamLike } from './upstream-entry.js';

const named = (weights: readonly number[]): UpstreamLike[] =>
  weights.map((weight, i) => ({ name: `u${String(i)}`, weight }));

function picks(rr: RoundRobin, count: number): string[] {
  return Array.from({ length: count }, () => rr.pick()?.name ?? '-');
}

const weightsArb = fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 8 });

describe('RoundRobin', () => {
  it("interleaves weights as nginx's smooth weighted round robin does: {5, 1, 1} → a a b a c a a", () => {
    const rr = new RoundRobin({
      upstreams: [{ name: 'a', weight: 5 }, { name: 'b' }, { name: 'c' }],
    });
    expect(picks(rr, 14).join(' ')).toBe('a a b a c a a a a b a c a a');
  });

  it('rotates through equal weights in order', () => {
    const rr = new RoundRobin({ upstreams: named([1, 1, 1]) });
    expect(picks(rr, 7)).toEqual(['u0', 'u1', 'u2', 'u0', 'u1', 'u2', 'u0']);
  });

  test.prop([weightsArb, fc.integer({ min: 0, max: 50 })])(
    'every window of Σweights consecutive picks holds each upstream exactly `weight` times (converges within one cycle)',
    (weights, offset) => {
      const rr = new RoundRobin({ upstreams: named(weights) });
      const cycle = weights.reduce((a, b) => a + b, 0);
      const sequence = picks(rr, offset + 2 * cycle);
      for (const start of [0, offset]) {
        const counts = new Map<string, number>();
        for (const name of sequence.slice(start, start + cycle)) {
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
        weights.forEach((w, i) => {
          expect(counts.get(`u${String(i)}`) ?? 0).toBe(w);
        });
      }
    },
  );

  test.prop([weightsArb])(
    'never bursts: after any k picks, no upstream has k × weight / Σweights + 1 picks or more',
    (weights) => {
      // Smooth WRR keeps current weight = k × weight − Σweights × picks above −Σweights, so an
      // upstream is never a whole pick ahead of its share. Classic WRR ({5, 1, 1} → a a a a a b c)
      // is 1.43 picks ahead after five.
      const rr = new RoundRobin({ upstreams: named(weights) });
      const total = weights.reduce((a, b) => a + b, 0);
      const counts = new Array<number>(weights.length).fill(0);
      for (let k = 1; k <= 2 * total; k++) {
        counts[Number(rr.pick()?.name.slice(1))]!++;
        weights.forEach((w, i) => {
          expect(counts[i]!).toBeLessThan((k * w) / total + 1);
        });
      }
    },
  );

  test.prop([weightsArb, fc.array(fc.boolean(), { minLength: 8, maxLength: 8 })])(
    'never picks an unavailable upstream, and spreads over the available ones by weight',
    (weights, down) => {
      const rr = new RoundRobin({
        upstreams: named(weights),
        availability: [(u) => !down[Number(u.name.slice(1))]],
      });
      const up = weights.map((w, i) => (down[i] === true ? 0 : w));
      const total = up.reduce((a, b) => a + b, 0);
      const sequence = picks(rr, Math.max(total, 1));
      if (total === 0) {
        expect(sequence).toEqual(['-']);
        return;
      }
      up.forEach((w, i) => {
        expect(sequence.filter((n) => n === `u${String(i)}`).length).toBe(w);
      });
    },
  );

  it('keeps rotating when members change, and weights apply after setWeight', () => {
    const rr = new RoundRobin({ upstreams: named([1, 1]) });
    expect(picks(rr, 2)).toEqual(['u0', 'u1']);
    rr.add({ name: 'u2' });
    expect(picks(rr, 3)).toEqual(['u2', 'u0', 'u1']);
    rr.setWeight('u0', 3);
    const cycle = picks(rr, 5);
    expect(cycle.filter((n) => n === 'u0')).toHaveLength(3);
    rr.remove('u0');
    expect(picks(rr, 4).sort()).toEqual(['u1', 'u1', 'u2', 'u2']);
  });

  it('ramps a newly added upstream up during slow start, interleaved', () => {
    const clock = new VirtualClock();
    const rr = new RoundRobin({
      upstreams: named([1, 1, 1]),
      slowStart: { windowMs: 1_000, minWeightPercent: 10 },
      clock,
    });
    rr.add({ name: 'new' });
    const share = (): number => picks(rr, 400).filter((n) => n === 'new').length / 400;
    const early = share();
    clock.advance(500);
    const middle = share();
    clock.advance(500);
    const full = share();
    expect(early).toBeLessThan(0.05); // 10 % of its weight: 0.1 / 3.1
    expect(middle).toBeGreaterThan(0.12); // about half: 0.5 / 3.5
    expect(middle).toBeLessThan(0.18);
    expect(full).toBeCloseTo(0.25, 2);
  });
});
