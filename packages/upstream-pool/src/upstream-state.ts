/**
 * Why: a pool keyed per upstream is many small pools sharing one set of rules. This is the
 * bookkeeping of one of them, kept as plain data so that the pool's rules live in one place
 * (`upstream-pool.ts`): an idle stack (LIFO, as Go's net/http and HikariCP hand out the most
 * recently used connection, which is the least likely to have been closed by the peer, while
 * the oldest sink to the bottom where the idle timeout retires them), the resources alive, the
 * creations in flight, and a FIFO of waiters on core's DeadlineQueue (one timer per upstream,
 * intrusive links, O(1) abort).
 *
 * Nothing here is exported from the package.
 */
import { type Clock, type ClockTimer, DeadlineEntry, DeadlineQueue } from '@proxykit/core';
import type { ConnectionLease } from './connection-lease.js';
import type { Upstream } from './upstream.js';

/** @internal what a lease calls back into */
export interface LeaseOwner<R> {
  /** Ends `lease` (current holder of `entry`) and gives the resource back. */
  release(entry: PooledResource<R>, lease: ConnectionLease<R>): void;
  /** Ends `lease` (current holder of `entry`) and destroys the resource. */
  destroy(entry: PooledResource<R>, lease: ConnectionLease<R>, reason: unknown): void;
}

/** @internal where a pooled resource is */
export const IDLE = 0;
/** @internal */
export const LEASED = 1;
/** @internal */
export const GONE = 2;

/** @internal one resource the pool created, from creation to destruction */
export class PooledResource<R> {
  /** IDLE, LEASED or GONE. */
  status: typeof IDLE | typeof LEASED | typeof GONE = IDLE;
  /** The lease that holds it now, if any. */
  lease: ConnectionLease<R> | undefined = undefined;
  /** When it last went idle (clock time). */
  idleSince = 0;
  /** The factory reported it dead while it was leased; it is destroyed when the lease ends. */
  dead = false;

  constructor(
    readonly owner: LeaseOwner<R>,
    readonly state: UpstreamState<R>,
    readonly resource: R,
    /** When its `maxLifetimeMs` runs out (clock time); Infinity without a limit. */
    readonly expiresAt: number,
  ) {}
}

/** @internal an acquire waiting for a resource */
export class Waiter<R> extends DeadlineEntry {
  detach: () => void = noop;

  constructor(
    readonly resolve: (lease: ConnectionLease<R>) => void,
    readonly reject: (reason: unknown) => void,
    readonly upstream: Upstream,
  ) {
    super();
  }
}

const noop = (): void => undefined;

/** @internal one creation in flight (attempts and the backoff between them) */
export class Creation<R> {
  /** Aborts the current attempt or backoff wait. */
  controller: AbortController | undefined = undefined;

  constructor(readonly state: UpstreamState<R>) {}
}

/** @internal the per-upstream part of a pool */
export class UpstreamState<R> {
  /** Idle resources; the top (end) is the most recently released. */
  readonly idle: PooledResource<R>[] = [];
  /** Every resource alive (idle or leased). */
  readonly all: Set<PooledResource<R>> = new Set();
  /** Acquires waiting, oldest first. */
  readonly waiters: DeadlineQueue<Waiter<R>>;
  /** Resources leased now. */
  leased = 0;
  /** Creations in flight (attempting or backing off between attempts). */
  pending = 0;
  /** Factory failures in a row; 0 after a success. */
  consecutiveFailures = 0;
  /** The latest factory failure, until a create succeeds. */
  lastError: unknown = undefined;
  /** Armed while warm refills back off after a failed creation. */
  refillTimer: ClockTimer | undefined = undefined;
  /** Taken out of the pool by `remove()`; its leases destroy their resource when they end. */
  removed = false;
  created = 0;
  destroyed = 0;
  timeouts = 0;
  failures = 0;

  constructor(
    readonly key: string,
    readonly upstream: Upstream,
    clock: Clock,
    onTimeout: (state: UpstreamState<R>, waiter: Waiter<R>) => void,
  ) {
    this.waiters = new DeadlineQueue(clock, (waiter) => {
      onTimeout(this, waiter);
    });
  }

  /** Resources alive plus creations in flight: what counts against `max`. */
  get size(): number {
    return this.all.size + this.pending;
  }
}
