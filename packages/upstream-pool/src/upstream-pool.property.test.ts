/**
 * The pool's promises, checked under random sequences of acquires (some aborted), releases,
 * destroys, double releases, resources dying or going bad, a factory that fails, stalls or
 * ignores aborts, removed upstreams and virtual time, always ending with a close:
 *
 * - never more than `max` resources per upstream (counted by the factory: alive or being created);
 * - every acquire settles by its deadline (`acquireTimeoutMs` after it was made);
 * - no resource is ever held by two unended leases, and none is handed out dead or destroyed;
 * - the pool's gauges match what the test holds and waits for;
 * - after `close()` and its grace: every acquire settled, every resource destroyed exactly once,
 *   nothing pending, no timer left.
 */
import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect } from 'vitest';
import type { ConnectionLease } from './connection-lease.js';
import { FakeFactory, type FakeResource } from './fake-factory.testkit.js';
import { Upstream } from './upstream.js';
import { UpstreamPool } from './upstream-pool.js';

const UPSTREAMS = [Upstream.parse('tcp://10.0.0.1:1'), Upstream.parse('tcp://10.0.0.2:2')];

const config = fc.record({
  max: fc.integer({ min: 1, max: 3 }),
  min: fc.integer({ min: 0, max: 3 }),
  maxWaiters: fc.oneof(
    fc.integer({ min: 0, max: 4 }),
    fc.constant(Infinity),
    fc.constant(Infinity),
  ),
  acquireTimeoutMs: fc.integer({ min: 5, max: 200 }),
  idleTimeoutMs: fc.oneof(fc.constant(Infinity), fc.integer({ min: 5, max: 300 })),
  maxLifetimeMs: fc.oneof(fc.constant(Infinity), fc.integer({ min: 5, max: 500 })),
  createTimeoutMs: fc.oneof(fc.constant(Infinity), fc.integer({ min: 5, max: 100 })),
  createRetries: fc.integer({ min: 0, max: 3 }),
  retryBackoffMs: fc.integer({ min: 1, max: 30 }),
  sweepIntervalMs: fc.option(fc.integer({ min: 1, max: 2_000 }), { nil: undefined }),
  graceMs: fc.integer({ min: 0, max: 200 }),
  random: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
});

const pick = fc.nat({ max: 1_000 });
const upstream = fc.nat({ max: UPSTREAMS.length - 1 });

const operation = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      upstream,
      abortAfterMs: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tryAcquire' as const), upstream }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('end' as const),
      pick,
      how: fc.constantFrom('release', 'destroy', 'dispose', 'twice'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('kill' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('spoil' as const), pick }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('factory' as const),
      fail: fc.boolean(),
      latencyMs: fc.integer({ min: 0, max: 60 }),
      ignoreAbort: fc.boolean(),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 80 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), upstream }) },
);

const drainOperation = fc.oneof(
  fc.record({ kind: fc.constant('end' as const), pick, how: fc.constant('release' as const) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 80 }) }),
);

interface Acquire {
  readonly upstream: Upstream;
  readonly deadline: number;
  settled: boolean;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

type Config = typeof config extends fc.Arbitrary<infer C> ? C : never;
type Operation = typeof operation extends fc.Arbitrary<infer O> ? O : never;
type DrainOperation = typeof drainOperation extends fc.Arbitrary<infer O> ? O : never;

/** Runs one scenario and checks every invariant after every step. */
async function scenario(
  cfg: Config,
  operations: readonly Operation[],
  drain: readonly DrainOperation[],
): Promise<void> {
  const clock = new VirtualClock();
  const factory = new FakeFactory(clock);
  const min = Math.min(cfg.min, cfg.max);
  const pool = new UpstreamPool<FakeResource>({
    factory,
    clock,
    max: cfg.max,
    min,
    maxWaiters: cfg.maxWaiters,
    acquireTimeoutMs: cfg.acquireTimeoutMs,
    idleTimeoutMs: cfg.idleTimeoutMs,
    maxLifetimeMs: cfg.maxLifetimeMs,
    createTimeoutMs: cfg.createTimeoutMs,
    createRetries: cfg.createRetries,
    retryBackoffMs: cfg.retryBackoffMs,
    ...(cfg.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: cfg.sweepIntervalMs }),
    random: () => cfg.random,
  });
  const acquires: Acquire[] = [];
  /** Leases the test holds and has not ended. */
  let held: ConnectionLease<FakeResource>[] = [];
  /** Leases the test ended. */
  const ended: ConnectionLease<FakeResource>[] = [];
  /** Resource → the lease that holds it. */
  const holders = new Map<FakeResource, ConnectionLease<FakeResource>>();
  /** Resource → when the test last gave it back. */
  const returnedAt = new Map<FakeResource, number>();
  let closing = false;
  /** Expectations that failed inside promise callbacks. */
  const violations: unknown[] = [];
  let removed = false;

  const received = (lease: ConnectionLease<FakeResource>): void => {
    const resource = lease.resource;
    expect(closing, 'no lease is handed out once the pool is closing').toBe(false);
    const holder = holders.get(resource);
    expect(holder === undefined || holder.released, 'a resource is leased twice').toBe(true);
    expect(resource.alive, 'a destroyed resource was leased').toBe(true);
    expect(resource.killed, 'a dead resource was leased').toBe(false);
    expect(resource.reusable, 'an unusable resource was leased').toBe(true);
    expect(resource.origin).toBe(lease.upstream.origin);
    const now = clock.now();
    expect(now - resource.createdAt, 'a resource past maxLifetimeMs was leased').toBeLessThan(
      cfg.maxLifetimeMs,
    );
    const idleFor = now - (returnedAt.get(resource) ?? now);
    if (min === 0) {
      expect(idleFor, 'a resource past idleTimeoutMs was leased').toBeLessThan(cfg.idleTimeoutMs);
    }
    holders.set(resource, lease);
    held.push(lease);
  };

  const endLease = (index: number, how: string): void => {
    if (held.length === 0) return;
    const lease = held[index % held.length]!;
    held = held.filter((l) => l !== lease);
    ended.push(lease);
    holders.delete(lease.resource);
    returnedAt.set(lease.resource, clock.now());
    if (how === 'destroy') lease.destroy(new Error('protocol error'));
    else if (how === 'dispose') lease[Symbol.dispose]();
    else {
      lease.release();
      if (how === 'twice') lease.release();
    }
  };

  const checkInvariants = (): void => {
    if (violations.length > 0) throw violations[0];
    const now = clock.now();
    for (const a of acquires) {
      if (a.deadline <= now) expect(a.settled, 'an acquire outlived its deadline').toBe(true);
    }
    for (const u of UPSTREAMS) {
      expect(pool.stats(u).size).toBeLessThanOrEqual(cfg.max);
      if (!removed) expect(factory.maxLive.get(u.origin) ?? 0).toBeLessThanOrEqual(cfg.max);
    }
    expect(factory.problems).toEqual([]);
    if (!closing) {
      const stats = pool.stats();
      expect(stats.leased).toBe(held.length);
      expect(stats.waiting).toBe(acquires.filter((a) => !a.settled).length);
      expect(stats.size).toBe(stats.idle + stats.leased + stats.pending);
    }
  };

  for (const op of operations) {
    switch (op.kind) {
      case 'acquire': {
        const u = UPSTREAMS[op.upstream]!;
        let signal: AbortSignal | undefined;
        if (op.abortAfterMs !== undefined) {
          const controller = new AbortController();
          signal = controller.signal;
          clock.setTimer(() => {
            controller.abort(new Error('caller gave up'));
          }, op.abortAfterMs);
        }
        const record: Acquire = {
          upstream: u,
          deadline: clock.now() + cfg.acquireTimeoutMs,
          settled: false,
        };
        acquires.push(record);
        pool.acquire(u, { signal }).then(
          (lease) => {
            record.settled = true;
            // A failed expectation here must fail the property, not become an unhandled rejection.
            try {
              received(lease);
            } catch (error) {
              violations.push(error);
            }
          },
          () => {
            record.settled = true;
          },
        );
        break;
      }
      case 'tryAcquire': {
        const lease = pool.tryAcquire(UPSTREAMS[op.upstream]!);
        if (lease !== undefined) received(lease);
        break;
      }
      case 'end':
        endLease(op.pick, op.how);
        break;
      case 'stale':
        // Ending an ended lease again must not touch whoever holds the resource now.
        if (ended.length > 0) {
          const lease = ended[op.pick % ended.length]!;
          lease.release();
          lease.destroy();
        }
        break;
      case 'kill':
      case 'spoil': {
        const alive = factory.resources.filter((r) => r.alive && !r.killed);
        const victim = alive[op.pick % Math.max(1, alive.length)];
        if (victim === undefined) break;
        if (op.kind === 'kill') factory.kill(victim, new Error('peer closed'));
        else victim.reusable = false;
        break;
      }
      case 'factory':
        factory.behaviour = {
          latencyMs: op.latencyMs,
          ignoreAbort: op.ignoreAbort,
          ...(op.fail ? { error: new Error('ECONNREFUSED') } : {}),
        };
        break;
      case 'advance':
        await clock.advanceAsync(op.ms);
        break;
      case 'remove':
        removed = pool.remove(UPSTREAMS[op.upstream]!) || removed;
        break;
    }
    await flush();
    checkInvariants();
  }

  // Close with some leases still out; give some back during the grace.
  const closed = { done: false };
  closing = true;
  void pool.close({ graceMs: cfg.graceMs }).then(() => {
    closed.done = true;
  });
  for (const op of drain) {
    if (op.kind === 'end') endLease(op.pick, op.how);
    else await clock.advanceAsync(op.ms);
    await flush();
    checkInvariants();
  }
  await clock.advanceAsync(cfg.graceMs + 1_000);
  await flush();
  // Nothing holds the process any more (a waiter queue's timer may still run out unreferenced).
  expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);

  expect(closed.done).toBe(true);
  expect(acquires.every((a) => a.settled)).toBe(true);
  expect(held.every((lease) => lease.released)).toBe(true);
  expect(factory.liveTotal).toBe(0);
  expect(factory.resources.every((r) => !r.alive)).toBe(true);
  expect(factory.problems).toEqual([]);
  expect(pool.stats()).toMatchObject({ size: 0, idle: 0, leased: 0, waiting: 0, pending: 0 });
  const { created, destroyed } = pool.stats();
  expect(created).toBe(factory.resources.length);
  expect(destroyed).toBe(created);
  await clock.advanceAsync(cfg.acquireTimeoutMs);
  expect(clock.pendingTimers()).toBe(0);
  await expect(pool.acquire(UPSTREAMS[0]!)).rejects.toThrow('closed');
}

describe('UpstreamPool properties', () => {
  test.prop(
    [
      config,
      fc.array(operation, { minLength: 1, maxLength: 60 }),
      fc.array(drainOperation, { maxLength: 10 }),
    ],
    { numRuns: 300 },
  )(
    'never exceeds max, settles every acquire in time, never leases twice, leaves nothing after close',
    scenario,
  );

  // The same checks with few resources, long acquire timeouts and no factory trouble: queues
  // form behind a full pool and resources are lost while callers wait.
  test.prop(
    [
      config.map((cfg) => ({
        ...cfg,
        maxWaiters: Infinity,
        acquireTimeoutMs: 10 * cfg.acquireTimeoutMs,
        max: Math.min(cfg.max, 2),
      })),
      fc.array(
        fc.oneof(
          operation.filter((op) => op.kind === 'acquire'),
          operation.filter((op) => op.kind === 'end'),
          operation.filter((op) => op.kind === 'kill' || op.kind === 'spoil'),
          operation.filter((op) => op.kind === 'advance'),
        ),
        { minLength: 1, maxLength: 40 },
      ),
      fc.array(drainOperation, { maxLength: 10 }),
    ],
    { numRuns: 300 },
  )('keeps the same promises when callers queue behind a full pool', scenario);
});
