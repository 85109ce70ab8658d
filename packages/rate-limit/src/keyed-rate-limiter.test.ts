import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { Gcra } from './gcra.js';
import { KeyedRateLimiter, type KeyableLimiter } from './keyed-rate-limiter.js';
import { LeakyBucket } from './leaky-bucket.js';
import { SlidingWindow } from './sliding-window.js';
import { TokenBucket } from './token-bucket.js';

/** One limiter configuration of each kind, built fresh by `make()`. */
const kinds: readonly { name: string; make: () => KeyableLimiter }[] = [
  { name: 'TokenBucket', make: () => new TokenBucket({ capacity: 5, refillPerSecond: 3 }) },
  { name: 'LeakyBucket', make: () => new LeakyBucket({ queueSize: 4, drainPerSecond: 2.5 }) },
  { name: 'Gcra', make: () => new Gcra({ limit: 6, periodMs: 1000, burst: 3 }) },
  { name: 'SlidingWindow', make: () => new SlidingWindow({ limit: 5, windowMs: 700, buckets: 7 }) },
];

const op = fc.record({
  key: fc.integer({ min: 0, max: 7 }),
  gapMs: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 400 }),
    fc.double({ min: 0, max: 50, noNaN: true }),
  ),
  cost: fc.integer({ min: 1, max: 3 }),
});

describe('KeyedRateLimiter', () => {
  test.prop([fc.constantFrom(...kinds), fc.array(op, { maxLength: 200 })], { numRuns: 300 })(
    'decides for each key exactly as a limiter of its own would',
    (kind, ops) => {
      const keyed = new KeyedRateLimiter<number>({ limiter: kind.make(), maxKeys: 8 });
      const own = new Map<number, KeyableLimiter>();
      let now = 0;
      for (const { key, gapMs, cost } of ops) {
        now += gapMs;
        let single = own.get(key);
        if (single === undefined) own.set(key, (single = kind.make()));
        expect(keyed.admit(key, cost, now)).toBe(single.admit(cost, now));
      }
      expect(keyed.size).toBe(own.size);
      expect(keyed.evictions).toBe(0);
    },
  );

  test.prop(
    [fc.constantFrom(...kinds), fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 200 })],
    { numRuns: 300 },
  )('keeps at most maxKeys keys: exactly the most recently used ones', (kind, maxKeys, ops) => {
    const keyed = new KeyedRateLimiter<number>({ limiter: kind.make(), maxKeys });
    let recency: number[] = [];
    let now = 0;
    let evictions = 0;
    for (const { key, gapMs, cost } of ops) {
      now += gapMs;
      keyed.admit(key, cost, now);
      if (!recency.includes(key) && recency.length === maxKeys) evictions++;
      recency = [...recency.filter((k) => k !== key), key].slice(-maxKeys);
      expect(keyed.size).toBeLessThanOrEqual(maxKeys);
    }
    expect(keyed.size).toBe(recency.length);
    for (let key = 0; key < 8; key++) expect(keyed.has(key)).toBe(recency.includes(key));
    expect(keyed.evictions).toBe(evictions);
  });

  it('cannot be grown past its cap by a flood of fresh keys', () => {
    for (const kind of kinds) {
      const keyed = new KeyedRateLimiter<string>({ limiter: kind.make(), maxKeys: 1_000 });
      let admitted = 0;
      for (let i = 0; i < 100_000; i++)
        if (keyed.admit(`flood-${String(i)}`, 1, i) === 0) admitted++;
      expect(admitted).toBe(100_000); // every fresh key is admitted…
      expect(keyed.size).toBe(1_000); // …and the map stays at the cap
      expect(keyed.evictions).toBe(99_000);
    }
  });

  it('forgets the least recently used key, not the oldest one', () => {
    const keyed = new KeyedRateLimiter<string>({
      limiter: new Gcra({ limit: 1, periodMs: 1000 }),
      maxKeys: 2,
    });
    expect(keyed.admit('a', 1, 0)).toBe(0);
    expect(keyed.admit('b', 1, 0)).toBe(0);
    expect(keyed.admit('a', 1, 10)).toBe(990); // a rejection also counts as a use
    expect(keyed.admit('c', 1, 20)).toBe(0); // evicts b
    expect([keyed.has('a'), keyed.has('b'), keyed.has('c')]).toEqual([true, false, true]);
    expect(keyed.evictionsWhileLimited).toBe(1); // b had not recovered yet
    expect(keyed.admit('b', 1, 30)).toBe(0); // forgotten: it starts afresh
  });

  it('keeps evicting in recency order after deletes, prunes and clear', () => {
    for (const kind of kinds) {
      const keyed = new KeyedRateLimiter<string>({ limiter: kind.make(), maxKeys: 3 });
      for (const key of ['a', 'b', 'c', 'd']) keyed.admit(key, 1, 0); // a evicted
      keyed.delete('c');
      keyed.admit('e', 1, 0); // room after the delete: nothing evicted
      keyed.admit('f', 1, 0); // evicts b
      expect(['a', 'b', 'c', 'd', 'e', 'f'].filter((k) => keyed.has(k))).toEqual(['d', 'e', 'f']);
      keyed.clear();
      for (const key of ['g', 'h', 'i', 'j']) keyed.admit(key, 1, 0); // g evicted
      expect(['g', 'h', 'i', 'j'].filter((k) => keyed.has(k))).toEqual(['h', 'i', 'j']);
      expect(keyed.prune(1e9)).toBe(3);
      for (const key of ['k', 'l', 'm', 'n']) keyed.admit(key, 1, 1e9);
      expect(['k', 'l', 'm', 'n'].filter((k) => keyed.has(k))).toEqual(['l', 'm', 'n']);
      expect(keyed.evictions).toBe(4); // a, b, g, k
    }
  });

  it('prunes the keys whose state is back to a fresh key’s', () => {
    const clock = new VirtualClock();
    for (const kind of kinds) {
      const keyed = new KeyedRateLimiter<string>({ limiter: kind.make() });
      keyed.admit('busy', 1, 0);
      keyed.admit('quiet', 1, 0);
      keyed.admit('busy', 1, 5_000);
      expect(keyed.prune(5_001)).toBe(1);
      expect([keyed.has('busy'), keyed.has('quiet')]).toEqual([true, false]);
      expect(keyed.delete('busy')).toBe(true);
      expect(keyed.size).toBe(0);
      keyed.admit('x', 1, 0);
      keyed[Symbol.dispose]();
      expect(keyed.size).toBe(0);
    }
    expect(clock.pendingTimers()).toBe(0);
  });

  it('uses the template’s clock and offers the object form', () => {
    const clock = new VirtualClock();
    const keyed = new KeyedRateLimiter<string>({
      limiter: new TokenBucket({ capacity: 1, refillPerSecond: 1, clock }),
    });
    expect(keyed.tryAdmit('k')).toEqual({ admitted: true, retryAfterMs: 0 });
    expect(keyed.tryAdmit('k')).toEqual({ admitted: false, retryAfterMs: 1000 });
    clock.advance(1000);
    expect(keyed.admit('k')).toBe(0);
    expect(keyed.keyed).toBe(true);
    expect(keyed.maxCost).toBe(1);
  });

  it('validates costs like the template does', () => {
    const gcra = new KeyedRateLimiter<string>({
      limiter: new Gcra({ limit: 5, periodMs: 1, burst: 2 }),
    });
    expect(() => gcra.admit('k', 3)).toThrow('Gcra: cost must be an integer in (0, 2], got 3');
    const window = new KeyedRateLimiter<string>({
      limiter: new SlidingWindow({ limit: 2, windowMs: 1 }),
    });
    expect(() => window.admit('k', 1.5)).toThrow(
      'SlidingWindow: cost must be an integer in (0, 2], got 1.5',
    );
    const bucket = new KeyedRateLimiter<string>({
      limiter: new TokenBucket({ capacity: 2, refillPerSecond: 1 }),
    });
    expect(() => bucket.admit('k', 0)).toThrow(RangeError);
    expect(bucket.admit('k', 1.5)).toBe(0);
  });

  it('rejects bad options', () => {
    const limiter = new Gcra({ limit: 1, periodMs: 1 });
    expect(() => new KeyedRateLimiter({ limiter, maxKeys: 0 })).toThrow(
      new RangeError('KeyedRateLimiter: maxKeys must be an integer in [1, 16000000], got 0'),
    );
    expect(
      () => new KeyedRateLimiter({ limiter: { admit: () => 0 } as unknown as KeyableLimiter }),
    ).toThrow(TypeError);
  });
});
