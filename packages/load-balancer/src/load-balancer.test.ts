import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { ChangeEvent, PanicEvent } from './balancer-events.js';
import type { LoadBalancerBase, LoadBalancerOptions } from './load-balancer.js';
import { Maglev } from './maglev.js';
import { PeakEwma } from './peak-ewma.js';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { seededRandom } from './random-source.js';
import { Random } from './random.js';
import { RingHash } from './ring-hash.js';
import { RoundRobin } from './round-robin.js';
import type { UpstreamLike } from './upstream-entry.js';
import { WeightedLeastConn } from './weighted-least-conn.js';

interface Named extends UpstreamLike {
  readonly name: string;
}

type Options = LoadBalancerOptions<Named>;

/** Every policy, built from the same shared options. */
const POLICIES: Record<string, (options: Options) => LoadBalancerBase<Named>> = {
  RoundRobin: (o) => new RoundRobin(o),
  Random: (o) => new Random(o),
  WeightedLeastConn: (o) => new WeightedLeastConn(o),
  PowerOfTwoChoices: (o) => new PowerOfTwoChoices(o),
  PeakEwma: (o) => new PeakEwma(o),
  Maglev: ({ slowStart: _unused, ...o }) => new Maglev({ ...o, tableSize: 1009 }),
  RingHash: ({ slowStart: _unused, ...o }) => new RingHash(o),
};

const names = (n: number): Named[] =>
  Array.from({ length: n }, (_, i) => ({ name: `u${String(i)}` }));

describe.each(Object.keys(POLICIES))('%s', (policy) => {
  const make = POLICIES[policy]!;

  test.prop(
    [
      fc.array(
        fc.record({
          weight: fc.integer({ min: 1, max: 5 }),
          healthy: fc.boolean(),
          open: fc.boolean(),
          inFlight: fc.nat(4),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      fc.integer(),
      fc.array(fc.oneof(fc.string(), fc.nat()), { minLength: 1, maxLength: 20 }),
    ],
    { numRuns: 60 },
  )(
    'never picks an unhealthy upstream or one whose availability check fails, outside panic mode',
    (specs, seed, keys) => {
      const lb = make({
        upstreams: specs.map((s, i) => ({ name: `u${String(i)}`, weight: s.weight })),
        availability: [{ isAvailable: (name) => specs[Number(name.slice(1))]?.open !== true }],
        random: seededRandom(seed),
      });
      specs.forEach((s, i) => {
        lb.setHealthy(`u${String(i)}`, s.healthy);
        const entry = lb.get(`u${String(i)}`)!;
        for (let k = 0; k < s.inFlight; k++) lb.begin(entry);
      });
      const anyAvailable = specs.some((s) => s.healthy && !s.open);
      for (const key of keys) {
        const picked = lb.pickEntry(key);
        if (!anyAvailable) {
          expect(picked).toBeUndefined();
          continue;
        }
        expect(picked).toBeDefined();
        const spec = specs[Number(picked!.name.slice(1))]!;
        expect(spec.healthy && !spec.open).toBe(true);
        expect(picked!.available).toBe(true);
      }
    },
  );

  it('panics (routes to all) only when enabled: below the healthy threshold, or when nothing is available', () => {
    const panics: PanicEvent[] = [];
    const strict = make({ upstreams: names(4) });
    const lenient = make({ upstreams: names(4), panicThreshold: 50 });
    lenient.onPanic((e) => panics.push(e));
    for (const lb of [strict, lenient]) {
      lb.setHealthy('u0', false);
      lb.setHealthy('u1', false);
    }
    // 2 of 4 healthy is not below 50 %: no panic, healthy ones only.
    for (let i = 0; i < 20; i++)
      expect(['u2', 'u3']).toContain(lenient.pick(`k${String(i)}`)?.name);
    expect(panics).toHaveLength(0);
    lenient.setHealthy('u2', false);
    strict.setHealthy('u2', false);
    // 1 of 4 healthy: below 50 %, the lenient balancer spreads over all four.
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(lenient.pick(`k${String(i)}`)?.name ?? '-');
    expect(seen).toEqual(new Set(['u0', 'u1', 'u2', 'u3']));
    expect(panics[0]).toEqual({ reason: 'threshold', total: 4, healthy: 1 });
    for (let i = 0; i < 20; i++) expect(strict.pick(`k${String(i)}`)?.name).toBe('u3');
    strict.setHealthy('u3', false);
    expect(strict.pick('k')).toBeUndefined();

    const zero = make({ upstreams: names(3), panicThreshold: 0, availability: [() => false] });
    const zeroPanics: PanicEvent[] = [];
    zero.onPanic((e) => zeroPanics.push(e));
    expect(zero.pick('k')).toBeDefined();
    expect(zeroPanics).toEqual([{ reason: 'none-available', total: 3, healthy: 3 }]);
  });

  it('counts calls in flight across weight and health changes, removal and re-adding', () => {
    const lb = make({ upstreams: names(3) });
    const entry = lb.get('u1')!;
    const t1 = lb.begin(entry);
    const t2 = lb.begin(entry);
    lb.setWeight('u1', 4);
    lb.setHealthy('u1', false);
    expect(lb.get('u1')).toBe(entry);
    expect(entry.inFlight).toBe(2);
    expect(lb.remove('u1')).toBe(true);
    expect(entry.member).toBe(false);
    expect(entry.available).toBe(false);
    lb.end(entry, t1);
    expect(entry.inFlight).toBe(1);
    // Back while one call is still running: the same entry, that call still counted.
    const again = lb.add({ name: 'u1' });
    expect(again).toBe(entry);
    expect(again.inFlight).toBe(1);
    expect(again.healthy).toBe(true);
    lb.end(entry, t2);
    expect(entry.inFlight).toBe(0);
    lb.end(entry, t2); // a stray extra end never goes negative
    expect(entry.inFlight).toBe(0);
    // Removed with nothing in flight: a fresh entry next time.
    lb.remove('u1');
    expect(lb.add({ name: 'u1' })).not.toBe(entry);
  });

  it('reconciles the membership with setUpstreams and reports every change', () => {
    const changes: ChangeEvent[] = [];
    const lb = make({ upstreams: names(3) });
    lb.onChange((e) => changes.push(e));
    const kept = lb.get('u0')!;
    lb.setUpstreams([{ name: 'u0', weight: 2 }, { name: 'u2' }, { name: 'u9' }]);
    expect(
      lb
        .entries()
        .map((e) => e.name)
        .sort(),
    ).toEqual(['u0', 'u2', 'u9']);
    expect(lb.get('u0')).toBe(kept);
    expect(kept.weight).toBe(2);
    // u2 is a new object of the same name and weight: an update that keeps its entry.
    expect(changes.map((c) => `${c.type}:${c.name}`)).toEqual([
      'remove:u1',
      'update:u0',
      'update:u2',
      'add:u9',
    ]);
    expect(changes.at(-1)).toEqual({ type: 'add', name: 'u9', weight: 1, healthy: true, size: 3 });
    for (let i = 0; i < 50; i++)
      expect(['u0', 'u2', 'u9']).toContain(lb.pick(`k${String(i)}`)?.name);
    expect(() => {
      lb.setUpstreams([{ name: 'x' }, { name: 'x' }]);
    }).toThrow(RangeError);
    expect(lb.size).toBe(3); // nothing changed
  });

  it('returns undefined with no upstreams and says so', () => {
    const lb = make({});
    const totals: number[] = [];
    lb.onNoUpstream(({ total }) => totals.push(total));
    expect(lb.pick('k')).toBeUndefined();
    expect(totals).toEqual([0]);
  });
});

describe('LoadBalancerBase', () => {
  it('validates options and weights with RangeErrors naming them', () => {
    expect(() => new RoundRobin({ panicThreshold: 101 })).toThrow(
      'RoundRobin: panicThreshold must be a number in [0, 100], got 101',
    );
    expect(() => new RoundRobin({ upstreams: [{ name: 'a', weight: 0 }] })).toThrow(
      'RoundRobin: weight must be a number in (0, 1000000], got 0',
    );
    expect(() => new Random({ upstreams: [{ name: 'a' }, { name: 'a' }] })).toThrow(
      'Random: upstream names must be unique, got "a" twice',
    );
    expect(() => new WeightedLeastConn({ slowStart: { windowMs: 0 } })).toThrow(
      'WeightedLeastConn: slowStart.windowMs must be a number in (0, 2147483647], got 0',
    );
    expect(() => new RoundRobin({ slowStart: { windowMs: 10, minWeightPercent: -1 } })).toThrow(
      /minWeightPercent/,
    );
    const rr = new RoundRobin({ upstreams: [{ name: 'a' }] });
    expect(() => rr.setWeight('a', Number.NaN)).toThrow(RangeError);
    expect(() => rr.add({ name: 7 } as unknown as UpstreamLike)).toThrow(TypeError);
    expect(() => new RoundRobin({ availability: [42 as unknown as () => boolean] })).toThrow(
      TypeError,
    );
    expect(rr.setWeight('missing', 2)).toBe(false);
    expect(rr.setHealthy('missing', true)).toBe(false);
    expect(rr.remove('missing')).toBe(false);
  });

  it('takes weights from the upstream unless add overrides them, and replaces a member of the same name', () => {
    const rr = new RoundRobin<{ name: string; weight?: number; port?: number }>();
    const a = rr.add({ name: 'a', weight: 3, port: 1 });
    expect(a.weight).toBe(3);
    const b = rr.add({ name: 'b', weight: 3 }, 2);
    expect(b.weight).toBe(2);
    const replaced = rr.add({ name: 'a', port: 2 });
    expect(replaced).toBe(a);
    expect(a.upstream.port).toBe(2);
    expect(a.weight).toBe(1);
  });

  it('ramps an upstream that comes back healthy (slow start) and reports entries as snapshots', () => {
    const clock = new VirtualClock();
    const lb = new WeightedLeastConn({
      upstreams: names(2),
      slowStart: { windowMs: 1_000, aggression: 2, minWeightPercent: 0 },
      clock,
    });
    const entry = lb.get('u0')!;
    expect(entry.effectiveWeight).toBe(1); // initial members start at full weight
    lb.setHealthy('u0', false);
    lb.setHealthy('u0', true);
    clock.advance(250);
    expect(entry.effectiveWeight).toBeCloseTo(Math.sqrt(0.25)); // (t / window)^(1 / aggression)
    expect(entry.toJSON()).toEqual({
      name: 'u0',
      weight: 1,
      effectiveWeight: 0.5,
      inFlight: 0,
      healthy: true,
      available: true,
    });
    clock.advance(750);
    expect(entry.effectiveWeight).toBe(1);
  });

  it('adds and removes availability checks at run time', () => {
    const lb = new RoundRobin({ upstreams: names(2) });
    const dispose = lb.addAvailabilityCheck((u) => u.name !== 'u0');
    for (let i = 0; i < 4; i++) expect(lb.pick()?.name).toBe('u1');
    expect(lb.get('u0')!.available).toBe(false);
    dispose();
    dispose();
    expect(new Set([lb.pick()?.name, lb.pick()?.name])).toEqual(new Set(['u0', 'u1']));
  });
});
