import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { RingHash } from './ring-hash.js';

const backends = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ name: `backend-${String(i)}` }));

describe('RingHash', () => {
  test.prop(
    [
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 30 }),
      fc.nat(),
    ],
    { numRuns: 30 },
  )('when an upstream leaves, only its own keys move', (names, which) => {
    const lb = new RingHash({ upstreams: names.map((name) => ({ name })) });
    const leaving = names[which % names.length]!;
    const keys = Array.from({ length: 5_000 }, (_, k) => `key-${String(k)}`);
    const before = keys.map((k) => lb.ownerOf(k)?.name);
    lb.remove(leaving);
    keys.forEach((k, i) => {
      if (before[i] !== leaving) expect(lb.ownerOf(k)?.name).toBe(before[i]);
      else expect(lb.ownerOf(k)?.name).not.toBe(leaving);
    });
  });

  test.prop([fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 10 })], {
    numRuns: 20,
  })('places virtual nodes in proportion to weight, and shares cover the whole ring', (weights) => {
    const lb = new RingHash({
      upstreams: weights.map((weight, i) => ({ name: `w-${String(i)}`, weight })),
      replicas: 1_000,
    });
    const shares = lb.shares();
    const total = weights.reduce((a, b) => a + b, 0);
    expect([...shares.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    weights.forEach((w, i) => {
      // 1000 virtual nodes per average upstream: within ±25 % of the weight's share.
      expect(shares.get(`w-${String(i)}`)! / (w / total)).toBeGreaterThan(0.75);
      expect(shares.get(`w-${String(i)}`)! / (w / total)).toBeLessThan(1.25);
    });
  });

  it('measures balance at 10 and 100 upstreams with 160 virtual nodes each (the README figures)', () => {
    for (const [n, limit] of [
      [10, 1.35],
      [100, 1.6],
    ] as const) {
      const lb = new RingHash({ upstreams: backends(n) });
      expect(lb.ringSize).toBe(160 * n);
      const shares = [...lb.shares().values()];
      expect(Math.max(...shares) / Math.min(...shares)).toBeLessThan(limit);
    }
  });

  it('walks past an unavailable owner to the next one on the ring, consistently', () => {
    const down = new Set<string>();
    const lb = new RingHash({ upstreams: backends(8), availability: [(u) => !down.has(u.name)] });
    const home = lb.pick('session-1')!.name;
    down.add(home);
    const fallback = lb.pick('session-1')!.name;
    expect(fallback).not.toBe(home);
    expect(lb.pick('session-1')!.name).toBe(fallback);
    down.delete(home);
    expect(lb.pick('session-1')!.name).toBe(home);
  });

  it('validates its options and caps the ring', () => {
    expect(() => new RingHash({ replicas: 0 })).toThrow(
      'RingHash: replicas must be an integer in [1, 65536], got 0',
    );
    expect(() => new RingHash({ maxRingSize: 1.5 })).toThrow(/maxRingSize/);
    const capped = new RingHash({ upstreams: backends(10), maxRingSize: 100 });
    expect(capped.ringSize).toBe(100);
  });
});
