import diagnostics from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import {
  isOverloadedError,
  isPoolTimeoutError,
  isTimeoutError,
  PoolTimeoutError,
  systemClock,
  VirtualClock,
} from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { ConnectionLease } from './connection-lease.js';
import { FakeFactory, type FakeResource } from './fake-factory.testkit.js';
import type { DestroyEvent, FactoryErrorEvent } from './pool-events.js';
import { isPoolClosedError } from './pool-errors.js';
import { Upstream } from './upstream.js';
import { UpstreamPool, type UpstreamPoolOptions } from './upstream-pool.js';

const db = Upstream.parse('tcp://10.0.0.1:5432');
const cache = Upstream.parse('tcp://10.0.0.2:6379');
const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), {
  code: 'ECONNREFUSED',
});

function setup(options: Partial<UpstreamPoolOptions<FakeResource>> = {}): {
  clock: VirtualClock;
  factory: FakeFactory;
  pool: UpstreamPool<FakeResource>;
} {
  const clock = new VirtualClock();
  const factory = new FakeFactory(clock);
  const pool = new UpstreamPool<FakeResource>({ factory, clock, random: () => 0, ...options });
  return { clock, factory, pool };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Tracks a promise's outcome without awaiting it. */
function track<T>(promise: Promise<T>): { settled: boolean; value?: T; error?: unknown } {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => {
      state.settled = true;
      state.value = value;
    },
    (error: unknown) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

describe('UpstreamPool: acquire and release', () => {
  it('hands out the warmest idle resource first (LIFO)', async () => {
    const { pool } = setup();
    const a = await pool.acquire(db);
    const b = await pool.acquire(db);
    a.release();
    b.release();
    expect(pool.stats(db)).toMatchObject({ size: 2, idle: 2, leased: 0, created: 2 });
    const first = await pool.acquire(db);
    const second = await pool.acquire(db);
    expect(first.resource).toBe(b.resource);
    expect(second.resource).toBe(a.resource);
    expect(first.upstream).toBe(db);
  });

  it('creates on demand up to max, then serves waiters first come, first served', async () => {
    const { pool, factory } = setup({ max: 2 });
    const leases = await Promise.all([pool.acquire(db), pool.acquire(db)]);
    const order: number[] = [];
    const waiting = [1, 2, 3].map((n) =>
      pool.acquire(db).then((lease) => {
        order.push(n);
        return lease;
      }),
    );
    await flush();
    expect(pool.stats(db)).toMatchObject({ size: 2, leased: 2, waiting: 3, pending: 0 });
    leases[1].release();
    leases[0].release();
    const [w1, w2] = await Promise.all([waiting[0], waiting[1]]);
    expect(order).toEqual([1, 2]);
    w1?.release();
    const w3 = await waiting[2];
    expect(order).toEqual([1, 2, 3]);
    expect(factory.calls).toBe(2);
    expect(new Set([w2?.resource, w3?.resource]).size).toBe(2);
  });

  it('keeps pools per upstream, by origin unless keyOf says otherwise', async () => {
    const { pool } = setup({ max: 1 });
    const a = await pool.acquire(db);
    const b = await pool.acquire(cache);
    expect(a.resource.origin).toBe(db.origin);
    expect(b.resource.origin).toBe(cache.origin);
    const renamed = db.withName('primary');
    const pending = track(pool.acquire(renamed)); // same origin: same pool, which is full
    await flush();
    expect(pending.settled).toBe(false);
    a.release();
    await flush();
    expect((pending.value as ConnectionLease<FakeResource>).upstream).toBe(renamed);

    const byName = setup({ max: 1, keyOf: (u) => u.name }).pool;
    await byName.acquire(db);
    await expect(byName.acquire(renamed)).resolves.toBeDefined();
    expect(byName.stats(renamed).leased).toBe(1);
  });

  it('tryAcquire leases an idle resource synchronously and never creates one', async () => {
    const { pool, factory } = setup();
    expect(pool.tryAcquire(db)).toBeUndefined();
    expect(factory.calls).toBe(0);
    (await pool.acquire(db)).release();
    const lease = pool.tryAcquire(db);
    expect(lease?.resource.id).toBe(0);
    expect(pool.tryAcquire(db)).toBeUndefined();
    lease?.release();
    await pool.close();
    expect(pool.tryAcquire(db)).toBeUndefined();
  });
});

describe('UpstreamPool: dead and unusable resources are never leased', () => {
  it('removes a resource that dies while idle at once', async () => {
    const { pool, factory } = setup();
    const events: DestroyEvent[] = [];
    pool.onDestroy((event) => events.push(event));
    const lease = await pool.acquire(db);
    lease.release();
    const peerClosed = new Error('ECONNRESET');
    factory.kill(lease.resource, peerClosed);
    expect(pool.stats(db)).toMatchObject({ idle: 0, size: 0, destroyed: 1 });
    expect(events).toEqual([{ upstream: db, reason: 'dead', error: peerClosed }]);
    const next = await pool.acquire(db);
    expect(next.resource).not.toBe(lease.resource);
    expect(next.resource.killed).toBe(false);
  });

  it('destroys a resource that died while leased when the lease ends', async () => {
    const { pool, factory } = setup();
    const lease = await pool.acquire(db);
    factory.kill(lease.resource);
    expect(pool.stats(db).leased).toBe(1);
    lease.release();
    expect(pool.stats(db)).toMatchObject({ idle: 0, leased: 0, destroyed: 1 });
  });

  it('checks isReusable at hand-out and tries the next idle resource', async () => {
    const { pool } = setup();
    const a = await pool.acquire(db);
    const b = await pool.acquire(db);
    a.release();
    b.release();
    b.resource.reusable = false; // e.g. unread bytes arrived while it was idle
    const next = await pool.acquire(db);
    expect(next.resource).toBe(a.resource);
    expect(pool.stats(db)).toMatchObject({ idle: 0, leased: 1, destroyed: 1 });
  });

  it('a factory check that throws counts as "not reusable"', async () => {
    const clock = new VirtualClock();
    const factory = new FakeFactory(clock);
    const pool = new UpstreamPool({
      clock,
      factory: {
        create: (u: Upstream, s: AbortSignal) => factory.create(u, s),
        destroy: (r: FakeResource) => {
          factory.destroy(r);
        },
        isReusable: () => {
          throw new Error('bug');
        },
        recycle: () => true,
      },
    });
    (await pool.acquire(db)).release();
    const lease = await pool.acquire(db);
    expect(lease.resource.id).toBe(1);
    expect(pool.stats(db)).toMatchObject({ destroyed: 1, leased: 1 });
  });
});

describe('UpstreamPool: waiting', () => {
  it('rejects with PoolTimeoutError after acquireTimeoutMs, not before', async () => {
    const { pool, clock } = setup({ max: 1, acquireTimeoutMs: 100 });
    const timeouts: unknown[] = [];
    pool.onAcquireTimeout((event) => timeouts.push(event));
    await pool.acquire(db);
    const waiter = track(pool.acquire(db));
    await clock.advanceAsync(99);
    expect(waiter.settled).toBe(false);
    await clock.advanceAsync(1);
    expect(waiter.error).toBeInstanceOf(PoolTimeoutError);
    expect((waiter.error as PoolTimeoutError).timeoutMs).toBe(100);
    expect((waiter.error as Error).cause).toBeUndefined();
    expect(pool.stats(db)).toMatchObject({ waiting: 0, timeouts: 1 });
    expect(timeouts).toEqual([{ upstream: db, timeoutMs: 100, waiting: 0, lastError: undefined }]);
  });

  it('an abort rejects a waiter with the signal’s reason and leaves no listener behind', async () => {
    const { pool, clock } = setup({ max: 1 });
    const held = await pool.acquire(db);
    const controller = new AbortController();
    const waiter = track(pool.acquire(db, { signal: controller.signal }));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    const reason = new Error('client went away');
    controller.abort(reason);
    await flush();
    expect(waiter.error).toBe(reason);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(pool.stats(db).waiting).toBe(0);

    const served = new AbortController();
    const next = pool.acquire(db, { signal: served.signal });
    held.release();
    await next;
    expect(getEventListeners(served.signal, 'abort')).toHaveLength(0);
    await expect(pool.acquire(db, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await clock.advanceAsync(60_000);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('bounds the waiters for a release with maxWaiters; acquires being created for are not counted', async () => {
    const { pool, factory } = setup({ max: 1, maxWaiters: 1 });
    factory.behaviour = { latencyMs: 10 };
    const full: unknown[] = [];
    pool.onQueueFull((event) => full.push(event));
    const first = track(pool.acquire(db)); // a resource is created for it
    const second = track(pool.acquire(db)); // waits for the release
    const third = track(pool.acquire(db));
    await flush();
    expect(first.settled || second.settled).toBe(false);
    expect(isOverloadedError(third.error)).toBe(true);
    expect((third.error as Error).message).toContain('maxWaiters 1');
    expect(full).toEqual([{ upstream: db, waiting: 2, maxWaiters: 1 }]);

    const none = setup({ max: 1, maxWaiters: 0 });
    const lease = await none.pool.acquire(db);
    await expect(none.pool.acquire(db)).rejects.toSatisfy(isOverloadedError);
    lease.release();
    await expect(none.pool.acquire(db)).resolves.toBeDefined();
  });
});

describe('UpstreamPool: factory failures', () => {
  it('retries with backoff, then rejects the waiter promptly with the factory’s own error', async () => {
    const { pool, factory, clock } = setup({ createRetries: 2, retryBackoffMs: 100 });
    factory.behaviour = { error: refused };
    const errors: FactoryErrorEvent[] = [];
    pool.onFactoryError((event) => errors.push(event));
    const waiter = track(pool.acquire(db));
    await flush();
    expect(factory.calls).toBe(1);
    await clock.advanceAsync(49); // random 0: waits are half the step, 50 then 100
    expect(factory.calls).toBe(1);
    await clock.advanceAsync(1);
    expect(factory.calls).toBe(2);
    await clock.advanceAsync(99);
    expect(waiter.settled).toBe(false);
    await clock.advanceAsync(1);
    expect(factory.calls).toBe(3);
    expect(waiter.error).toBe(refused);
    expect(errors.map((e) => [e.attempt, e.willRetry])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    expect(pool.stats(db)).toMatchObject({ size: 0, pending: 0, waiting: 0, failures: 3 });
    await clock.advanceAsync(60_000);
    expect(factory.calls).toBe(3); // nothing keeps trying once nobody waits
  });

  it('a creation that gives up rejects every waiter no other creation will serve', async () => {
    const { pool, factory, clock } = setup({ max: 2, createRetries: 2, retryBackoffMs: 10 });
    factory.behaviour = { error: refused };
    const waiters = Array.from({ length: 5 }, () => track(pool.acquire(db)));
    await clock.advanceAsync(100);
    expect(waiters.every((w) => w.error === refused)).toBe(true);
    expect(factory.calls).toBe(6); // two creations of three attempts, not one per waiter
  });

  it('a waiter that times out while creating fails gets the latest failure as its cause', async () => {
    const { pool, factory, clock } = setup({
      acquireTimeoutMs: 100,
      createRetries: 5,
      retryBackoffMs: 200,
    });
    factory.behaviour = { error: refused };
    const events: unknown[] = [];
    pool.onAcquireTimeout((event) => events.push(event));
    const waiter = track(pool.acquire(db));
    await clock.advanceAsync(100);
    expect(isPoolTimeoutError(waiter.error)).toBe(true);
    expect((waiter.error as Error).cause).toBe(refused);
    expect(events).toMatchObject([{ lastError: refused }]);
    await clock.advanceAsync(10_000);
    expect(factory.calls).toBe(1); // the retry was dropped: nobody needed it any more
  });

  it('recovers as soon as the factory does', async () => {
    const { pool, factory, clock } = setup({ createRetries: 3, retryBackoffMs: 10 });
    factory.behaviour = { error: refused };
    const waiter = track(pool.acquire(db));
    await clock.advanceAsync(4); // the retry is due at 5 ms (random 0: half of 10)
    factory.behaviour = {};
    await clock.advanceAsync(1);
    expect(waiter.value?.resource.alive).toBe(true);
    expect(pool.stats(db)).toMatchObject({ failures: 1, created: 1, leased: 1 });
  });

  it('createTimeoutMs aborts a create that takes too long', async () => {
    const { pool, factory, clock } = setup({ createTimeoutMs: 100, createRetries: 0 });
    factory.behaviour = { latencyMs: 1_000 };
    const waiter = track(pool.acquire(db));
    await clock.advanceAsync(100);
    expect(isTimeoutError(waiter.error)).toBe(true);
    expect(factory.liveTotal).toBe(0);
  });

  it('a create that throws synchronously is a failure like any other', async () => {
    const clock = new VirtualClock();
    const pool = new UpstreamPool({
      clock,
      createRetries: 0,
      factory: {
        create: (): Promise<never> => {
          throw refused;
        },
        destroy: () => undefined,
      },
    });
    await expect(pool.acquire(db)).rejects.toBe(refused);
  });

  it('never spins: a warm pool of a dead upstream probes with one creation at a time, backing off', async () => {
    const { pool, factory, clock } = setup({
      min: 3,
      max: 5,
      createRetries: 2,
      retryBackoffMs: 50,
      retryBackoffMaxMs: 1_000,
    });
    factory.behaviour = { error: refused };
    pool.add(db);
    await clock.advanceAsync(1_000);
    const early = factory.calls;
    expect(early).toBeGreaterThanOrEqual(9); // three warm creations, three attempts each
    let mostPending = 0;
    for (let t = 0; t < 60_000; t += 100) {
      await clock.advanceAsync(100);
      mostPending = Math.max(mostPending, pool.stats(db).pending);
    }
    expect(mostPending).toBe(1);
    // A refill of three attempts at most every 500 ms (half the 1 s cap, random 0).
    expect(factory.calls - early).toBeLessThanOrEqual(3 * (60_000 / 500) + 3);
    expect(factory.calls - early).toBeGreaterThan(100); // but it keeps trying
    factory.behaviour = {};
    await clock.advanceAsync(1_000);
    expect(pool.stats(db)).toMatchObject({ idle: 3, size: 3, pending: 0 });
  });
});

describe('UpstreamPool: warm resources, idle timeout and lifetime', () => {
  it('keeps min idle resources ready: created in the background, topped up after each take and loss', async () => {
    const { pool, factory, clock } = setup({ min: 2, max: 3, upstreams: [db] });
    await flush();
    expect(pool.stats(db)).toMatchObject({ idle: 2, created: 2 });
    const lease = await pool.acquire(db); // taking one starts another in the background
    await flush();
    expect(pool.stats(db)).toMatchObject({ idle: 2, leased: 1, created: 3 });
    const second = await pool.acquire(db); // at max: no room to top up
    await flush();
    expect(pool.stats(db)).toMatchObject({ idle: 1, leased: 2, size: 3 });
    second.release();
    lease.destroy();
    await flush();
    expect(pool.stats(db)).toMatchObject({ idle: 2, leased: 0, created: 3 });
    const idle = factory.resources.find((r) => r.alive && r !== lease.resource);
    if (idle !== undefined) factory.kill(idle);
    await flush();
    expect(pool.stats(db)).toMatchObject({ idle: 2, created: 4, destroyed: 2 });
    await clock.advanceAsync(120_000); // the idle timeout never takes the pool below min
    expect(pool.stats(db)).toMatchObject({ idle: 2, created: 4 });
  });

  it('retires idle resources above min, oldest first, with one sweeper timer for the whole pool', async () => {
    const { pool, clock } = setup({ min: 1, idleTimeoutMs: 1_000, acquireTimeoutMs: 10 });
    expect(pool.sweepIntervalMs).toBe(500);
    const held = await Promise.all([db, db, db, cache, cache, cache].map((u) => pool.acquire(u)));
    for (const lease of held) lease.release();
    // Three leased and one warm idle per upstream, then all eight idle.
    expect(pool.stats()).toMatchObject({ idle: 8, created: 8 });
    await clock.advanceAsync(10); // the waiter queues' timers (one per upstream) run out
    expect(clock.pendingTimers()).toBe(1); // and eight idle resources share one sweeper timer
    await clock.advanceAsync(989);
    expect(pool.stats()).toMatchObject({ idle: 8 });
    await clock.advanceAsync(1);
    expect(pool.stats(db)).toMatchObject({ idle: 1, destroyed: 3 });
    expect(pool.stats(cache)).toMatchObject({ idle: 1, destroyed: 3 });
    const kept = await pool.acquire(db);
    expect(kept.resource).toBe(held[2]?.resource); // the last released, the warmest
    kept.release();
    expect(clock.pendingTimers()).toBe(1);
  });

  it('never hands out a resource past its idle timeout, even before the sweeper runs', async () => {
    const { pool, clock } = setup({ idleTimeoutMs: 1_000, sweepIntervalMs: 60_000 });
    const first = await pool.acquire(db);
    first.release();
    await clock.advanceAsync(1_000);
    const next = await pool.acquire(db);
    expect(next.resource).not.toBe(first.resource);
    expect(first.resource.alive).toBe(false);
  });

  it('on the system clock too, where it reads the time once per event-loop iteration', async () => {
    const factory = new FakeFactory(systemClock);
    const pool = new UpstreamPool({ factory, idleTimeoutMs: 50, sweepIntervalMs: 60_000 });
    const first = await pool.acquire(db);
    first.release();
    const warm = await pool.acquire(db); // same iteration: same reading, still warm
    expect(warm.resource).toBe(first.resource);
    warm.release();
    await new Promise((resolve) => setTimeout(resolve, 80));
    const next = await pool.acquire(db);
    expect(next.resource).not.toBe(first.resource);
    expect(first.resource.alive).toBe(false);
    next.release();
    await pool.close();
  });

  it('retires resources at maxLifetimeMs: idle ones by the sweeper, leased ones on release', async () => {
    const { pool, clock } = setup({ maxLifetimeMs: 1_000, idleTimeoutMs: Infinity });
    const reasons: string[] = [];
    pool.onDestroy((event) => reasons.push(event.reason));
    (await pool.acquire(db)).release();
    await clock.advanceAsync(1_000);
    expect(reasons).toEqual(['max-lifetime']);
    const lease = await pool.acquire(db);
    await clock.advanceAsync(1_000);
    lease.release();
    expect(reasons).toEqual(['max-lifetime', 'max-lifetime']);
    expect(pool.stats(db)).toMatchObject({ size: 0, created: 2, destroyed: 2 });
  });

  it('never hands out a resource past maxLifetimeMs, and refills min', async () => {
    const { pool, clock } = setup({
      min: 1,
      maxLifetimeMs: 1_000,
      idleTimeoutMs: Infinity,
      sweepIntervalMs: 60_000,
      upstreams: [db],
    });
    await flush();
    const original = pool.tryAcquire(db);
    original?.release();
    await clock.advanceAsync(1_000);
    const lease = await pool.acquire(db);
    expect(lease.resource).not.toBe(original?.resource);
    expect(original?.resource.alive).toBe(false);
  });

  it('stops sweeping when nothing is idle', async () => {
    const { pool, clock } = setup({ idleTimeoutMs: 1_000, acquireTimeoutMs: 10 });
    (await pool.acquire(db)).release();
    await clock.advanceAsync(10);
    expect(clock.pendingTimers()).toBe(1);
    await clock.advanceAsync(2_000);
    expect(pool.stats(db).idle).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('UpstreamPool: close', () => {
  it('refuses acquires, rejects waiters, destroys idle resources, then drains leases', async () => {
    const { pool, factory, clock } = setup({ max: 1 });
    const held = await pool.acquire(db);
    (await pool.acquire(cache)).release();
    const waiter = track(pool.acquire(db));
    const closing = track(pool.close({ graceMs: 1_000 }));
    await flush();
    expect(pool.closed).toBe(true);
    expect(isPoolClosedError(waiter.error)).toBe(true);
    await expect(pool.acquire(db)).rejects.toSatisfy(isPoolClosedError);
    expect(() => {
      pool.add(cache);
    }).toThrow(/closed/);
    expect(pool.stats()).toMatchObject({ idle: 0, leased: 1, waiting: 0 });
    expect(closing.settled).toBe(false);
    await clock.advanceAsync(500);
    held.release();
    await flush();
    expect(closing.settled).toBe(true);
    expect(factory.liveTotal).toBe(0);
    expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
  });

  it('destroys what is still leased when the grace runs out', async () => {
    const { pool, factory, clock } = setup();
    const lease = await pool.acquire(db);
    const closing = track(pool.close({ graceMs: 1_000 }));
    await clock.advanceAsync(999);
    expect(closing.settled).toBe(false);
    await clock.advanceAsync(1);
    expect(closing.settled).toBe(true);
    expect(lease.released).toBe(true);
    expect(factory.liveTotal).toBe(0);
    lease.release(); // harmless
    expect(pool.stats()).toMatchObject({ size: 0, leased: 0, destroyed: 1 });
    expect(factory.problems).toEqual([]);
    // Nothing keeps the process alive; the waiter queue's unreferenced timer runs out by itself.
    expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
    await clock.advanceAsync(30_000);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('aborts creations in flight and destroys a resource that arrives after all', async () => {
    const { pool, factory, clock } = setup();
    factory.behaviour = { latencyMs: 100 };
    const aborted = track(pool.acquire(db));
    await flush();
    await pool.close();
    expect(isPoolClosedError(aborted.error)).toBe(true);
    expect(factory.liveTotal).toBe(0);

    const stubborn = setup();
    stubborn.factory.behaviour = { latencyMs: 100, ignoreAbort: true };
    void stubborn.pool.acquire(db).catch(() => undefined);
    await flush();
    const closing = track(stubborn.pool.close({ graceMs: 1_000 }));
    await stubborn.clock.advanceAsync(100);
    expect(closing.settled).toBe(true);
    expect(stubborn.factory.resources[0]?.alive).toBe(false);
    expect(stubborn.factory.liveTotal).toBe(0);
    expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
    expect(stubborn.clock.pendingTimers({ referencedOnly: true })).toBe(0);
  });

  it('stops warm refills and the sweeper', async () => {
    const { pool, factory, clock } = setup({ min: 2, upstreams: [db] });
    factory.behaviour = { error: refused };
    await clock.advanceAsync(1_000);
    const calls = factory.calls;
    await pool.close();
    await clock.advanceAsync(60_000);
    expect(factory.calls).toBe(calls);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('is idempotent and is what `await using` calls', async () => {
    const clock = new VirtualClock();
    const factory = new FakeFactory(clock);
    let escaped: UpstreamPool<FakeResource> | undefined;
    {
      await using pool = new UpstreamPool({ factory, clock });
      escaped = pool;
      (await pool.acquire(db)).release();
      expect(pool.close()).toBe(pool.close());
    }
    expect(escaped.closed).toBe(true);
    expect(factory.liveTotal).toBe(0);
    expect(() => escaped.close({ graceMs: -1 })).not.toThrow(); // already closing: same promise
    expect(() => new UpstreamPool({ factory, clock }).close({ graceMs: -1 })).toThrow(RangeError);
  });
});

describe('UpstreamPool: remove', () => {
  it('takes one upstream out: waiters rejected, idle destroyed, leases destroyed when they end', async () => {
    const { pool, factory } = setup({ max: 2 });
    const held = await pool.acquire(db);
    const spare = await pool.acquire(db);
    spare.release();
    const other = await pool.acquire(cache);
    const full = await pool.acquire(db);
    const waiter = track(pool.acquire(db));
    expect(pool.remove(db)).toBe(true);
    expect(pool.remove(db)).toBe(false);
    await flush();
    expect(isPoolClosedError(waiter.error)).toBe(true);
    expect((waiter.error as Error).message).toContain('tcp://10.0.0.1:5432 was removed');
    expect(pool.stats()).toMatchObject({ leased: 3, idle: 0 });
    held.release();
    full.release();
    expect(pool.stats()).toMatchObject({ leased: 1, size: 1 });
    expect(factory.live.get(db.origin)).toBe(0);
    const again = await pool.acquire(db);
    expect(again.resource.alive).toBe(true);
    expect(other.released).toBe(false);
  });
});

describe('UpstreamPool: observability', () => {
  it('sums stats over upstreams and keeps counters of removed ones', async () => {
    const { pool } = setup();
    (await pool.acquire(db)).release();
    await pool.acquire(cache);
    expect(pool.stats()).toEqual({
      size: 2,
      idle: 1,
      leased: 1,
      waiting: 0,
      pending: 0,
      created: 2,
      destroyed: 0,
      timeouts: 0,
      failures: 0,
    });
    pool.remove(db);
    expect(pool.stats()).toMatchObject({ size: 1, created: 2, destroyed: 1 });
    expect(pool.stats(db).size).toBe(0);
  });

  it('publishes events on proxykit:upstream-pool:<event> channels', async () => {
    const { pool, factory, clock } = setup({ createRetries: 0, acquireTimeoutMs: 50, max: 1 });
    const seen: [string, unknown][] = [];
    const names = ['create', 'destroy', 'factory-error', 'acquire-timeout', 'queue-full'];
    const subscribers = names.map((name) => {
      const listener = (message: unknown): void => {
        seen.push([name, message]);
      };
      diagnostics.subscribe(`proxykit:upstream-pool:${name}`, listener);
      return () => diagnostics.unsubscribe(`proxykit:upstream-pool:${name}`, listener);
    });
    try {
      const lease = await pool.acquire(db);
      const late = track(pool.acquire(db));
      await clock.advanceAsync(50);
      expect(isPoolTimeoutError(late.error)).toBe(true);
      lease.destroy();
      factory.behaviour = { error: refused };
      await expect(pool.acquire(db)).rejects.toBe(refused);
    } finally {
      for (const unsubscribe of subscribers) unsubscribe();
    }
    expect(seen.map(([name]) => name)).toEqual([
      'create',
      'acquire-timeout',
      'destroy',
      'factory-error',
    ]);
    expect(seen[0]?.[1]).toEqual({ upstream: db, attempts: 1 });
    expect(seen[3]?.[1]).toEqual({ upstream: db, error: refused, attempt: 1, willRetry: false });
  });
});

describe('UpstreamPool: options', () => {
  const factory = new FakeFactory(new VirtualClock());
  it.each([
    [{ max: 0 }, 'UpstreamPool: max must be an integer >= 1, got 0'],
    [{ max: 2, min: 3 }, 'UpstreamPool: min must be an integer in [0, 2], got 3'],
    [{ maxWaiters: -1 }, 'maxWaiters must be an integer >= 0'],
    [{ acquireTimeoutMs: Infinity }, 'acquireTimeoutMs must be a number in (0, 2147483647]'],
    [{ acquireTimeoutMs: 0 }, 'acquireTimeoutMs must be a number'],
    [{ idleTimeoutMs: 0 }, 'idleTimeoutMs must be a number in (0, 2147483647]'],
    [{ maxLifetimeMs: -5 }, 'maxLifetimeMs must be a number'],
    [{ createTimeoutMs: Number.NaN }, 'createTimeoutMs must be a number'],
    [{ createRetries: 1.5 }, 'createRetries must be an integer in [0, 100]'],
    [{ retryBackoffMs: 0 }, 'retryBackoffMs must be a number in (0, 2147483647]'],
    [{ retryBackoffMs: 100, retryBackoffMaxMs: 50 }, 'retryBackoffMaxMs must be a number in [100,'],
    [{ sweepIntervalMs: 0 }, 'sweepIntervalMs must be a number'],
    [{ keyOf: 'name' }, 'UpstreamPool: keyOf must be a function, got string'],
    [{ random: 1 }, 'random must be a function'],
  ] as const)('rejects %o with a RangeError naming the option', (options, message) => {
    const create = (): UpstreamPool<FakeResource> =>
      new UpstreamPool({ factory, ...(options as object) });
    expect(create).toThrow(RangeError);
    expect(create).toThrow(message);
  });

  it('rejects a factory without create and destroy, or with a non-function hook', () => {
    expect(() => new UpstreamPool({ factory: {} as never })).toThrow(
      'UpstreamPool: factory must have create() and destroy() methods, got object',
    );
    expect(() => new UpstreamPool({ factory: null as never })).toThrow('got null');
    expect(
      () =>
        new UpstreamPool({
          factory: { create: factory.create, destroy: factory.destroy, watch: 1 } as never,
        }),
    ).toThrow('UpstreamPool: factory.watch must be a function, got number');
  });

  it('has production defaults', () => {
    const pool = new UpstreamPool({ factory });
    expect({
      max: pool.max,
      min: pool.min,
      maxWaiters: pool.maxWaiters,
      acquireTimeoutMs: pool.acquireTimeoutMs,
      idleTimeoutMs: pool.idleTimeoutMs,
      maxLifetimeMs: pool.maxLifetimeMs,
      createTimeoutMs: pool.createTimeoutMs,
      createRetries: pool.createRetries,
      retryBackoffMs: pool.retryBackoffMs,
      retryBackoffMaxMs: pool.retryBackoffMaxMs,
      sweepIntervalMs: pool.sweepIntervalMs,
    }).toEqual({
      max: 10,
      min: 0,
      maxWaiters: 1_000,
      acquireTimeoutMs: 30_000,
      idleTimeoutMs: 30_000,
      maxLifetimeMs: Infinity,
      createTimeoutMs: 30_000,
      createRetries: 2,
      retryBackoffMs: 50,
      retryBackoffMaxMs: 5_000,
      sweepIntervalMs: 15_000,
    });
  });
});
