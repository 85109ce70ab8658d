/**
 * Why: the seed's `UpstreamPool` — per-origin connection reuse with a bounded capacity and an
 * idle sweeper — with the failure modes of the JavaScript pools designed out:
 *
 * - generic-pool's `acquire()` can wait forever while its factory keeps failing (the dispenser
 *   retries without bound and the waiter never hears why). Here every acquire has a deadline
 *   (`acquireTimeoutMs`, no "infinite" setting), and a creation that fails `1 + createRetries`
 *   times in a row, with jittered exponential backoff between attempts, rejects at once every
 *   waiter that no other creation in flight will serve, with the factory's own error
 *   (ECONNREFUSED stays ECONNREFUSED, so breakers and retries classify it). A waiter that times
 *   out while creations fail gets a `PoolTimeoutError` whose `cause` is the latest failure.
 * - tarn rejects acquires at once with a timeout after earlier creates failed; here each acquire
 *   is tried on its own merits.
 * - Neither may spin: retries and warm refills back off exponentially (up to
 *   `retryBackoffMaxMs`), a failing upstream is probed by one warm creation at a time, and a
 *   retry stops as soon as nobody needs its result.
 *
 * The rest follows the pools we hold up as models: LIFO reuse of the warmest resource (Go's
 * net/http, HikariCP); `min` warm idle resources topped up in the background (HikariCP's
 * minimumIdle; the L4 forwarder's pre-connected backend sockets, one taken per client); an idle
 * timeout that retires the oldest idle resources but spares the `min` most recently used, and a
 * `maxLifetimeMs` for all of them (HikariCP's idleTimeout and maxLifetime), checked again at
 * hand-out so an expired resource is never leased; one sweeper timer for the whole pool (tarn's
 * reaper, not a timer per resource); a bounded FIFO of waiters on core's DeadlineQueue (one
 * timer per upstream queue, abortable); and a drain on close that waits for leases up to a
 * deadline, then destroys what is left.
 *
 * The warm path, `await pool.acquire(u)` then `lease.release()`, allocates the lease and one
 * resolved promise, reads the system clock at most once per event-loop iteration, and emits
 * nothing.
 */
import {
  abortReason,
  type Clock,
  type ClockTimer,
  delay,
  type Disposer,
  type Listener,
  MAX_TIMER_DELAY_MS,
  onAbort,
  OverloadedError,
  PoolTimeoutError,
  rejectSoon,
  requireInteger,
  requireNumber,
  systemClock,
  TimeoutError,
} from '@proxykit/core';
import { backoffDelay, type RandomSource } from './backoff.js';
import { ConnectionLease } from './connection-lease.js';
import {
  type AcquireTimeoutEvent,
  type CreateEvent,
  type DestroyEvent,
  type DestroyReason,
  type FactoryErrorEvent,
  PoolEvents,
  type QueueFullEvent,
} from './pool-events.js';
import { PoolClosedError } from './pool-errors.js';
import type { PoolStats } from './pool-stats.js';
import type { ResourceFactory } from './resource-factory.js';
import {
  Creation,
  GONE,
  IDLE,
  LEASED,
  type LeaseOwner,
  PooledResource,
  UpstreamState,
  Waiter,
} from './upstream-state.js';
import type { Upstream } from './upstream.js';

/** Options of {@link UpstreamPool}. */
export interface UpstreamPoolOptions<R> {
  /** Creates, checks and destroys the resources: {@link socketFactory} or your own. */
  readonly factory: ResourceFactory<R>;
  /** Most resources per upstream, idle + leased + being created: an integer >= 1; default 10. */
  readonly max?: number;
  /**
   * Idle resources kept ready per upstream (HikariCP's minimumIdle, the L4 forwarder's warm
   * pool): created in the background as soon as the upstream is known (`upstreams`, `add()` or a
   * first `acquire()`), and topped up in the background whenever acquires, losses or retirements
   * take the idle count below it, within `max`: an integer in [0, max]; default 0.
   */
  readonly min?: number;
  /**
   * Acquires per upstream that may wait for a leased resource to come back, beyond those a new
   * resource is being created for: an integer >= 0 or Infinity; default 1 000. One more is
   * rejected at once with core's `OverloadedError`.
   */
  readonly maxWaiters?: number;
  /**
   * Longest wait of an acquire, in ms, in (0, 2147483647]; default 30 000. It then rejects with
   * core's `PoolTimeoutError` (whose `cause` is the factory's latest error, if creating failed).
   */
  readonly acquireTimeoutMs?: number;
  /**
   * An idle resource is destroyed after this long unused (except the `min` most recently used),
   * in ms, in
   * (0, 2147483647] or Infinity; default 30 000.
   */
  readonly idleTimeoutMs?: number;
  /**
   * A resource is destroyed once this old (when it is idle or comes back), in ms, in
   * (0, 2147483647] or Infinity; default Infinity.
   */
  readonly maxLifetimeMs?: number;
  /**
   * Longest factory `create` call, in ms, in (0, 2147483647] or Infinity; default 30 000. Then the
   * signal given to `create` aborts with core's `TimeoutError` and the attempt counts as failed
   * once `create` settles. (The socket factory's own `connectTimeoutMs` is usually shorter.)
   */
  readonly createTimeoutMs?: number;
  /** Attempts after the first before a creation gives up: an integer in [0, 100]; default 2. */
  readonly createRetries?: number;
  /** First backoff between attempts, in ms, in (0, 2147483647]; default 50. */
  readonly retryBackoffMs?: number;
  /**
   * Longest backoff between attempts and between warm refills of a failing upstream, in ms, in
   * [retryBackoffMs, 2147483647]; default 5 000.
   */
  readonly retryBackoffMaxMs?: number;
  /**
   * How often the sweeper retires idle resources past `idleTimeoutMs` or `maxLifetimeMs`, in ms,
   * in (0, 2147483647]; default half the shorter of the two, within [10, 30 000]. (Hand-outs
   * check both limits themselves, so an expired resource is never leased in between.)
   */
  readonly sweepIntervalMs?: number;
  /** Upstreams to register (and warm, with `min`) at once. */
  readonly upstreams?: Iterable<Upstream>;
  /** The key resources are filed under; default `upstream.origin` (`scheme://host:port`). */
  readonly keyOf?: (upstream: Upstream) => string;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) for the backoff jitter; defaults to `Math.random`. */
  readonly random?: RandomSource;
}

/** Options of {@link UpstreamPool.acquire}. */
export interface AcquireOptions {
  /** Gives up waiting: the acquire rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link UpstreamPool.close}. */
export interface CloseOptions {
  /**
   * How long to wait for leased resources to come back (and creations in flight to settle), in
   * ms, in [0, 2147483647]; default 10 000. Then what is still leased is destroyed.
   */
  readonly graceMs?: number;
}

const EMPTY_STATS: PoolStats = Object.freeze({
  size: 0,
  idle: 0,
  leased: 0,
  waiting: 0,
  pending: 0,
  created: 0,
  destroyed: 0,
  timeouts: 0,
  failures: 0,
});

const noop = (): void => undefined;

function optionalLimit(owner: string, option: string, value: number): number {
  return value === Infinity ? value : requireNumber(owner, option, value, 0, MAX_TIMER_DELAY_MS);
}

/** The factory's optional method `name`, bound to it; a RangeError if it is not a function. */
type FactoryHooks<R> = Required<Pick<ResourceFactory<R>, 'isReusable' | 'recycle' | 'watch'>>;

function factoryHook<R, K extends keyof FactoryHooks<R>>(
  factory: ResourceFactory<R>,
  name: K,
): FactoryHooks<R>[K] | undefined {
  const value: unknown = (factory as unknown as Record<string, unknown>)[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'function') {
    throw new RangeError(`UpstreamPool: factory.${name} must be a function, got ${typeof value}`);
  }
  return value.bind(factory) as FactoryHooks<R>[K];
}

function requireFunction<F>(option: string, value: F | undefined): F | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new RangeError(`UpstreamPool: ${option} must be a function, got ${typeof value}`);
  }
  return value;
}

/**
 * A pool of resources per upstream: TCP/TLS sockets with {@link socketFactory}, or anything a
 * {@link ResourceFactory} creates. See the package README for the guarantees and how they are
 * tested.
 *
 * @typeParam R the pooled resource
 *
 * @example
 * ```ts
 * const pool = new UpstreamPool({ factory: socketFactory(), max: 20, min: 2 });
 * const db = Upstream.parse('tcp://10.0.0.5:5432');
 * {
 *   await using lease = await pool.acquire(db, { signal: AbortSignal.timeout(1_000) });
 *   lease.resource.write(query);
 * } // released here, or destroyed if it is no longer reusable
 * await pool.close();
 * ```
 */
export class UpstreamPool<R> implements AsyncDisposable {
  /** The configured most resources per upstream. */
  readonly max: number;
  /** The configured warm (idle) resources per upstream. */
  readonly min: number;
  /** The configured bound on waiters per upstream. */
  readonly maxWaiters: number;
  /** The configured acquire timeout in ms. */
  readonly acquireTimeoutMs: number;
  /** The configured idle timeout in ms. */
  readonly idleTimeoutMs: number;
  /** The configured lifetime limit in ms. */
  readonly maxLifetimeMs: number;
  /** The configured create timeout in ms. */
  readonly createTimeoutMs: number;
  /** The configured retries per creation. */
  readonly createRetries: number;
  /** The configured first backoff in ms. */
  readonly retryBackoffMs: number;
  /** The configured longest backoff in ms. */
  readonly retryBackoffMaxMs: number;
  /** The configured sweep interval in ms. */
  readonly sweepIntervalMs: number;

  readonly #factory: ResourceFactory<R>;
  readonly #isReusable: ((resource: R) => boolean) | undefined;
  readonly #recycle: ((resource: R) => boolean) | undefined;
  readonly #watch: ((resource: R, onDead: (reason?: unknown) => void) => void) | undefined;
  readonly #keyOf: ((upstream: Upstream) => string) | undefined;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  /** True when an idle timeout or a lifetime limit is set: hand-outs and releases read the clock. */
  readonly #timed: boolean;
  readonly #states = new Map<string, UpstreamState<R>>();
  /** Removed upstreams that still have leases or creations. */
  readonly #retired = new Set<UpstreamState<R>>();
  readonly #creations = new Set<Creation<R>>();
  /** Async destroys in flight, awaited by close. */
  readonly #destroying = new Set<Promise<void>>();
  readonly #events = new PoolEvents();
  #sweepTimer: ClockTimer | undefined = undefined;
  #closed = false;
  #closing: Promise<void> | undefined = undefined;
  #onDrained: (() => void) | undefined = undefined;
  #created = 0;
  #destroyed = 0;
  #timeouts = 0;
  #failures = 0;
  /** The system clock's reading for this event-loop iteration, when `#turnCached`. */
  #turnTime = 0;
  #turnCached = false;
  readonly #cacheTurnTime: boolean;

  readonly #owner: LeaseOwner<R> = {
    release: (entry, lease) => {
      this.#release(entry, lease);
    },
    destroy: (entry, lease, reason) => {
      this.#destroyLease(entry, lease, reason);
    },
  };

  /** @throws RangeError naming the first invalid option */
  constructor(options: UpstreamPoolOptions<R>) {
    const owner = 'UpstreamPool';
    const factory: unknown = options.factory;
    if (
      typeof factory !== 'object' ||
      factory === null ||
      typeof (factory as Partial<ResourceFactory<R>>).create !== 'function' ||
      typeof (factory as Partial<ResourceFactory<R>>).destroy !== 'function'
    ) {
      throw new RangeError(
        `${owner}: factory must have create() and destroy() methods, got ${factory === null ? 'null' : typeof factory}`,
      );
    }
    this.#factory = options.factory;
    this.max = requireInteger(owner, 'max', options.max ?? 10, 1);
    this.min = requireInteger(owner, 'min', options.min ?? 0, 0, this.max);
    const maxWaiters = options.maxWaiters ?? 1_000;
    this.maxWaiters =
      maxWaiters === Infinity ? maxWaiters : requireInteger(owner, 'maxWaiters', maxWaiters, 0);
    this.acquireTimeoutMs = requireNumber(
      owner,
      'acquireTimeoutMs',
      options.acquireTimeoutMs ?? 30_000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.idleTimeoutMs = optionalLimit(owner, 'idleTimeoutMs', options.idleTimeoutMs ?? 30_000);
    this.maxLifetimeMs = optionalLimit(owner, 'maxLifetimeMs', options.maxLifetimeMs ?? Infinity);
    this.createTimeoutMs = optionalLimit(
      owner,
      'createTimeoutMs',
      options.createTimeoutMs ?? 30_000,
    );
    this.createRetries = requireInteger(owner, 'createRetries', options.createRetries ?? 2, 0, 100);
    this.retryBackoffMs = requireNumber(
      owner,
      'retryBackoffMs',
      options.retryBackoffMs ?? 50,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.retryBackoffMaxMs = requireNumber(
      owner,
      'retryBackoffMaxMs',
      options.retryBackoffMaxMs ?? Math.max(5_000, this.retryBackoffMs),
      this.retryBackoffMs,
      MAX_TIMER_DELAY_MS,
      true,
    );
    const shorter = Math.min(this.idleTimeoutMs, this.maxLifetimeMs);
    this.sweepIntervalMs = requireNumber(
      owner,
      'sweepIntervalMs',
      options.sweepIntervalMs ??
        (shorter === Infinity ? 30_000 : Math.min(30_000, Math.max(10, shorter / 2))),
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.#timed = shorter !== Infinity;
    this.#isReusable = factoryHook(options.factory, 'isReusable');
    this.#recycle = factoryHook(options.factory, 'recycle') ?? this.#isReusable;
    this.#watch = factoryHook(options.factory, 'watch');
    this.#keyOf = requireFunction('keyOf', options.keyOf);
    this.#clock = options.clock ?? systemClock;
    this.#cacheTurnTime = this.#clock === systemClock;
    this.#random = requireFunction('random', options.random) ?? Math.random;
    for (const upstream of options.upstreams ?? []) this.#stateFor(upstream);
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Leases a resource for `upstream`: the most recently released idle one that is still
   * reusable, else a new one if the upstream has room, else the next one released (waiters are
   * served first come, first served). Settles within `acquireTimeoutMs`, always.
   *
   * Rejects with core's `PoolTimeoutError` after `acquireTimeoutMs`; with the factory's error when
   * creating failed `1 + createRetries` times in a row and no other creation in flight can serve
   * this acquire; with core's `OverloadedError` at once when `maxWaiters` acquires already wait;
   * with the signal's reason when `options.signal` aborts; with {@link PoolClosedError} once the
   * pool is closing or the upstream was removed.
   */
  acquire(upstream: Upstream, options?: AcquireOptions): Promise<ConnectionLease<R>> {
    if (this.#closed) return rejectSoon(new PoolClosedError());
    const signal = options?.signal;
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const state = this.#stateFor(upstream);
    if (state.idle.length > 0) {
      const entry = this.#takeIdle(state);
      if (entry !== undefined) {
        const lease = this.#lease(state, entry, upstream);
        if (state.idle.length < this.min) this.#fill(state); // top the warm ones up
        return Promise.resolve(lease);
      }
    }
    return this.#wait(state, upstream, signal);
  }

  /**
   * Leases an idle resource for `upstream` if one is ready now, without waiting and without
   * creating one; `undefined` otherwise (or once the pool is closed).
   */
  tryAcquire(upstream: Upstream): ConnectionLease<R> | undefined {
    if (this.#closed) return undefined;
    const state = this.#stateFor(upstream);
    if (state.idle.length === 0) return undefined;
    const entry = this.#takeIdle(state);
    if (entry === undefined) return undefined;
    const lease = this.#lease(state, entry, upstream);
    if (state.idle.length < this.min) this.#fill(state);
    return lease;
  }

  /**
   * Registers `upstream` so that its `min` warm resources are created in the background now,
   * before the first acquire. Registering twice is harmless.
   *
   * @throws PoolClosedError once the pool is closing
   */
  add(upstream: Upstream): void {
    if (this.#closed) throw new PoolClosedError();
    this.#stateFor(upstream);
  }

  /**
   * Takes `upstream` out of the pool: its waiters are rejected with {@link PoolClosedError}, its
   * idle resources and warm refills stop, its creations are aborted, and its leased resources
   * are destroyed when their leases end. A later acquire starts it afresh. Returns false when
   * the upstream was not in the pool.
   */
  remove(upstream: Upstream): boolean {
    const key = this.#keyOf === undefined ? upstream.origin : this.#keyOf(upstream);
    const state = this.#states.get(key);
    if (state === undefined) return false;
    this.#states.delete(key);
    state.removed = true;
    if (state.size > 0) this.#retired.add(state);
    this.#retire(
      state,
      new PoolClosedError(`upstream ${state.upstream.origin} was removed from the pool`),
      'removed',
    );
    return true;
  }

  /** Gauges and counters for `upstream`, or summed over the pool (removed upstreams included). */
  stats(upstream?: Upstream): PoolStats {
    if (upstream !== undefined) {
      const key = this.#keyOf === undefined ? upstream.origin : this.#keyOf(upstream);
      const state = this.#states.get(key);
      if (state === undefined) return EMPTY_STATS;
      return {
        size: state.size,
        idle: state.idle.length,
        leased: state.leased,
        waiting: state.waiters.size,
        pending: state.pending,
        created: state.created,
        destroyed: state.destroyed,
        timeouts: state.timeouts,
        failures: state.failures,
      };
    }
    let size = 0;
    let idle = 0;
    let leased = 0;
    let waiting = 0;
    let pending = 0;
    for (const state of this.#allStates()) {
      size += state.size;
      idle += state.idle.length;
      leased += state.leased;
      waiting += state.waiters.size;
      pending += state.pending;
    }
    return {
      size,
      idle,
      leased,
      waiting,
      pending,
      created: this.#created,
      destroyed: this.#destroyed,
      timeouts: this.#timeouts,
      failures: this.#failures,
    };
  }

  /**
   * Closes the pool: new acquires are refused and waiters rejected with {@link PoolClosedError},
   * idle resources destroyed, creations aborted, the sweeper and warm refills stopped; then it
   * waits up to `graceMs` for leased resources to come back (each is destroyed as it does) and
   * for creations to settle, and destroys whatever is still leased. Resolves when done and
   * leaves no timer behind. Calling it again returns the same promise.
   *
   * @throws RangeError when `graceMs` is invalid
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const graceMs = requireNumber(
      'UpstreamPool.close',
      'graceMs',
      options.graceMs ?? 10_000,
      0,
      MAX_TIMER_DELAY_MS,
      true,
    );
    this.#closed = true;
    this.#closing = this.#shutdown(graceMs);
    return this.#closing;
  }

  /** Closes the pool with the default grace (`await using pool = new UpstreamPool(…)`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Calls `listener` after each resource is created; returns a disposer that unsubscribes. */
  onCreate(listener: Listener<CreateEvent>): Disposer {
    return this.#events.create.on(listener);
  }

  /** Calls `listener` after each resource is destroyed, with the reason. */
  onDestroy(listener: Listener<DestroyEvent>): Disposer {
    return this.#events.destroy.on(listener);
  }

  /** Calls `listener` after each failed factory attempt. */
  onFactoryError(listener: Listener<FactoryErrorEvent>): Disposer {
    return this.#events.factoryError.on(listener);
  }

  /** Calls `listener` when an acquire times out. */
  onAcquireTimeout(listener: Listener<AcquireTimeoutEvent>): Disposer {
    return this.#events.acquireTimeout.on(listener);
  }

  /** Calls `listener` when an acquire is refused because `maxWaiters` acquires already wait. */
  onQueueFull(listener: Listener<QueueFullEvent>): Disposer {
    return this.#events.queueFull.on(listener);
  }

  // ---- acquire ----------------------------------------------------------------------------

  /**
   * The time for the idle and lifetime checks of hand-outs and releases. Reading the system clock
   * costs more than the rest of a warm acquire and release together, so it is read once per
   * event-loop iteration and kept until the iteration's check phase: the checks may run late by
   * at most the length of one iteration, and `idleSince` can only err on the early side. An
   * injected clock (a VirtualClock in tests) is read every time.
   */
  #turnNow(): number {
    if (!this.#cacheTurnTime) return this.#clock.now();
    if (this.#turnCached) return this.#turnTime;
    const now = this.#clock.now();
    this.#turnTime = now;
    this.#turnCached = true;
    setImmediate(this.#forgetTurnTime).unref();
    return now;
  }

  readonly #forgetTurnTime = (): void => {
    this.#turnCached = false;
  };

  #stateFor(upstream: Upstream): UpstreamState<R> {
    const key = this.#keyOf === undefined ? upstream.origin : this.#keyOf(upstream);
    let state = this.#states.get(key);
    if (state === undefined) {
      state = new UpstreamState(key, upstream, this.#clock, this.#onTimeout);
      this.#states.set(key, state);
      if (this.min > 0) this.#fill(state);
    }
    return state;
  }

  /** Pops idle resources, warmest first, destroying those that may not be handed out. */
  #takeIdle(state: UpstreamState<R>): PooledResource<R> | undefined {
    const idle = state.idle;
    const now = this.#timed ? this.#turnNow() : 0;
    let discarded = false;
    let entry: PooledResource<R> | undefined;
    while ((entry = idle.pop()) !== undefined) {
      let reason: DestroyReason | undefined;
      if (entry.dead) reason = 'dead';
      else if (now >= entry.expiresAt) reason = 'max-lifetime';
      else if (now - entry.idleSince >= this.idleTimeoutMs && this.min === 0) {
        // (With `min` > 0 the top of the stack, the most recently used, is one of the `min`
        // idle resources the idle timeout spares; the sweeper retires the older ones.)
        reason = 'idle-timeout';
      } else if (this.#isReusable !== undefined && !this.#check(this.#isReusable, entry.resource)) {
        reason = 'not-reusable';
      }
      if (reason === undefined) break;
      this.#destroy(entry, reason);
      discarded = true;
    }
    if (discarded) this.#fill(state);
    return entry;
  }

  #lease(
    state: UpstreamState<R>,
    entry: PooledResource<R>,
    upstream: Upstream,
  ): ConnectionLease<R> {
    entry.status = LEASED;
    state.leased++;
    const lease = new ConnectionLease(entry, upstream);
    entry.lease = lease;
    return lease;
  }

  #wait(
    state: UpstreamState<R>,
    upstream: Upstream,
    signal: AbortSignal | undefined,
  ): Promise<ConnectionLease<R>> {
    // Waiters a new resource is (or can be) created for are always admitted; the rest wait for
    // a release, and at most `maxWaiters` of those may wait.
    const waiting = state.waiters.size;
    if (waiting - (this.max - state.all.size) >= this.maxWaiters) {
      if (this.#events.queueFull.wanted) {
        this.#events.queueFull.emit({ upstream, waiting, maxWaiters: this.maxWaiters });
      }
      return rejectSoon(
        new OverloadedError(
          `${String(waiting)} acquires already wait for ${state.upstream.origin} (maxWaiters ${String(this.maxWaiters)})`,
        ),
      );
    }
    return new Promise<ConnectionLease<R>>((resolve, reject) => {
      const waiter = new Waiter<R>(resolve, reject, upstream);
      if (signal !== undefined) {
        waiter.detach = onAbort(signal, () => {
          if (state.waiters.remove(waiter)) reject(abortReason(signal));
        });
      }
      state.waiters.push(waiter, this.#clock.now() + this.acquireTimeoutMs);
      this.#fill(state);
    });
  }

  readonly #onTimeout = (state: UpstreamState<R>, waiter: Waiter<R>): void => {
    waiter.detach();
    state.timeouts++;
    this.#timeouts++;
    const lastError = state.lastError;
    if (this.#events.acquireTimeout.wanted) {
      this.#events.acquireTimeout.emit({
        upstream: waiter.upstream,
        timeoutMs: this.acquireTimeoutMs,
        waiting: state.waiters.size,
        lastError,
      });
    }
    waiter.reject(
      new PoolTimeoutError(
        this.acquireTimeoutMs,
        lastError === undefined ? {} : { cause: lastError },
      ),
    );
  };

  /** Gives `entry` to the oldest waiter, or puts it on top of the idle stack. */
  #deliver(state: UpstreamState<R>, entry: PooledResource<R>, now: number): void {
    const waiter = state.waiters.shift();
    if (waiter !== undefined) {
      waiter.detach();
      waiter.resolve(this.#lease(state, entry, waiter.upstream));
      return;
    }
    entry.status = IDLE;
    entry.idleSince = now;
    state.idle.push(entry);
    if (this.#sweepTimer === undefined && this.#timed) this.#armSweeper();
  }

  // ---- release and destroy ----------------------------------------------------------------

  #release(entry: PooledResource<R>, lease: ConnectionLease<R>): void {
    if (entry.lease !== lease) return;
    entry.lease = undefined;
    const state = entry.state;
    state.leased--;
    if (this.#closed || state.removed) {
      this.#destroy(entry, this.#closed ? 'closed' : 'removed');
      this.#checkDrained();
      return;
    }
    let reason: DestroyReason | undefined;
    let now = 0;
    if (entry.dead) reason = 'dead';
    else {
      if (this.#timed) {
        now = this.#turnNow();
        if (now >= entry.expiresAt) reason = 'max-lifetime';
      }
      if (
        reason === undefined &&
        this.#recycle !== undefined &&
        !this.#check(this.#recycle, entry.resource)
      ) {
        reason = 'not-reusable';
      }
    }
    if (reason !== undefined) {
      this.#destroy(entry, reason);
      this.#fill(state);
      return;
    }
    this.#deliver(state, entry, now);
  }

  #destroyLease(entry: PooledResource<R>, lease: ConnectionLease<R>, error: unknown): void {
    if (entry.lease !== lease) return;
    entry.lease = undefined;
    const state = entry.state;
    state.leased--;
    this.#destroy(entry, 'destroyed', error);
    if (this.#closed || state.removed) this.#checkDrained();
    else this.#fill(state);
  }

  /** Runs a factory check; a check that throws says no. */
  #check(check: (resource: R) => boolean, resource: R): boolean {
    try {
      return check(resource);
    } catch {
      return false;
    }
  }

  /** Destroys a resource that is no longer idle nor leased. */
  #destroy(entry: PooledResource<R>, reason: DestroyReason, error?: unknown): void {
    entry.status = GONE;
    entry.lease = undefined;
    const state = entry.state;
    state.all.delete(entry);
    state.destroyed++;
    this.#destroyed++;
    if (this.#events.destroy.wanted) {
      this.#events.destroy.emit(
        error === undefined
          ? { upstream: state.upstream, reason }
          : { upstream: state.upstream, reason, error },
      );
    }
    if (state.removed && state.size === 0) this.#retired.delete(state);
    let result: void | Promise<void>;
    try {
      result = this.#factory.destroy(entry.resource);
    } catch {
      return;
    }
    if (result instanceof Promise) {
      const settled: Promise<void> = result.then(noop, noop).then(() => {
        this.#destroying.delete(settled);
        this.#checkDrained();
      });
      this.#destroying.add(settled);
    }
  }

  /** The factory's `watch` says the resource died. */
  #onDead(entry: PooledResource<R>, error: unknown): void {
    if (entry.status === LEASED) {
      entry.dead = true;
      return;
    }
    if (entry.status !== IDLE) return;
    const state = entry.state;
    const at = state.idle.lastIndexOf(entry);
    if (at !== -1) state.idle.splice(at, 1);
    this.#destroy(entry, 'dead', error);
    this.#fill(state);
  }

  // ---- creation ---------------------------------------------------------------------------

  /**
   * Starts the creations `state` needs, within `max`: one per waiter that no creation in flight
   * will serve, plus enough to bring the idle resources to `min` once the waiters are served (one
   * at a time while the upstream is failing, none while a warm refill backs off).
   */
  #fill(state: UpstreamState<R>): void {
    if (this.#closed || state.removed) return;
    const room = this.max - state.size;
    if (room <= 0) return;
    const waiting = state.waiters.size;
    const pending = state.pending;
    let wanted = waiting > pending ? waiting - pending : 0;
    if (this.min > 0 && state.refillTimer === undefined) {
      // Creations beyond the waiters' needs will end up idle.
      let warm = this.min - state.idle.length - (pending > waiting ? pending - waiting : 0);
      if (state.consecutiveFailures > 0 && warm > 0) warm = pending === 0 ? 1 : 0;
      if (warm > 0) wanted += warm;
    }
    if (wanted > room) wanted = room;
    for (let i = 0; i < wanted; i++) void this.#create(state);
  }

  /**
   * True when the creation asking (counted in `pending`) still serves a waiter, or the idle
   * resources it would join are fewer than `min`.
   */
  #wanted(state: UpstreamState<R>): boolean {
    if (this.#closed || state.removed) return false;
    const waiting = state.waiters.size;
    return waiting >= state.pending || state.idle.length + state.pending - waiting <= this.min;
  }

  /** One creation: up to `1 + createRetries` attempts with backoff between them. Never rejects. */
  async #create(state: UpstreamState<R>): Promise<void> {
    state.pending++;
    const creation = new Creation(state);
    this.#creations.add(creation);
    let resource: R | undefined;
    let created = false;
    let failed = false;
    let failure: unknown;
    let attempts = 0;
    try {
      for (;;) {
        const controller = new AbortController();
        creation.controller = controller;
        if (attempts > 0) {
          const wait = backoffDelay(
            attempts - 1,
            this.retryBackoffMs,
            this.retryBackoffMaxMs,
            this.#random,
          );
          await delay(wait, { signal: controller.signal, clock: this.#clock });
          if (!this.#wanted(state)) break;
        }
        attempts++;
        try {
          resource = await this.#attempt(state.upstream, controller);
          created = true;
          break;
        } catch (error) {
          if (this.#closed || state.removed) break;
          state.consecutiveFailures++;
          state.failures++;
          this.#failures++;
          state.lastError = error;
          const willRetry = attempts <= this.createRetries && this.#wanted(state);
          if (this.#events.factoryError.wanted) {
            this.#events.factoryError.emit({
              upstream: state.upstream,
              error,
              attempt: attempts,
              willRetry,
            });
          }
          if (!willRetry) {
            failed = true;
            failure = error;
            break;
          }
        }
      }
    } catch {
      // Only the backoff wait throws, when the pool closes or the upstream is removed.
    }
    this.#creations.delete(creation);
    state.pending--;
    if (created) this.#adopt(state, resource as R, attempts);
    else if (failed) this.#failed(state, failure);
    if (state.removed && state.size === 0) this.#retired.delete(state);
    this.#checkDrained();
  }

  async #attempt(upstream: Upstream, controller: AbortController): Promise<R> {
    const timeoutMs = this.createTimeoutMs;
    let timer: ClockTimer | undefined;
    if (timeoutMs !== Infinity) {
      timer = this.#clock.setTimer(() => {
        controller.abort(new TimeoutError(timeoutMs));
      }, timeoutMs);
      timer.unref();
    }
    try {
      return await this.#factory.create(upstream, controller.signal);
    } finally {
      timer?.cancel();
    }
  }

  /** A creation succeeded: the resource joins the pool and goes to the oldest waiter. */
  #adopt(state: UpstreamState<R>, resource: R, attempts: number): void {
    state.consecutiveFailures = 0;
    state.lastError = undefined;
    if (state.refillTimer !== undefined) {
      state.refillTimer.cancel();
      state.refillTimer = undefined;
    }
    const now = this.#clock.now();
    const entry = new PooledResource(this.#owner, state, resource, now + this.maxLifetimeMs);
    state.all.add(entry);
    state.created++;
    this.#created++;
    if (this.#events.create.wanted) {
      this.#events.create.emit({ upstream: state.upstream, attempts });
    }
    if (this.#closed || state.removed) {
      this.#destroy(entry, this.#closed ? 'closed' : 'removed');
      return;
    }
    const watch = this.#watch;
    if (watch !== undefined) {
      try {
        watch(resource, (reason?: unknown) => {
          this.#onDead(entry, reason);
        });
      } catch {
        // A watch that throws only loses the early death notice; hand-outs still check.
      }
      if (entry.status === GONE) {
        this.#fill(state);
        return;
      }
    }
    this.#deliver(state, entry, now);
    this.#fill(state);
  }

  /**
   * A creation gave up. Every waiter that no creation still in flight will serve is rejected
   * with the factory's error now: the upstream just failed `1 + createRetries` times in a row,
   * and a fresh round of attempts for each of them would only hammer it. A warm refill, if
   * `min` needs one, is scheduled after a backoff.
   */
  #failed(state: UpstreamState<R>, error: unknown): void {
    const waiters = state.waiters;
    for (let excess = waiters.size - state.pending; excess > 0; excess--) {
      const waiter = waiters.shift();
      if (waiter === undefined) break;
      waiter.detach();
      waiter.reject(error);
    }
    if (
      this.min === 0 ||
      this.#closed ||
      state.removed ||
      state.refillTimer !== undefined ||
      state.idle.length + Math.max(0, state.pending - state.waiters.size) >= this.min ||
      state.size >= this.max
    ) {
      return;
    }
    const wait = backoffDelay(
      state.consecutiveFailures,
      this.retryBackoffMs,
      this.retryBackoffMaxMs,
      this.#random,
    );
    const timer = this.#clock.setTimer(() => {
      state.refillTimer = undefined;
      this.#fill(state);
    }, wait);
    timer.unref();
    state.refillTimer = timer;
  }

  // ---- sweeping ---------------------------------------------------------------------------

  #armSweeper(): void {
    if (this.#closed || this.#sweepTimer !== undefined) return;
    const timer = this.#clock.setTimer(this.#sweep, this.sweepIntervalMs);
    timer.unref();
    this.#sweepTimer = timer;
  }

  /**
   * The one sweeper: retires idle resources past their lifetime, and those past their idle
   * timeout except the `min` most recently used.
   */
  readonly #sweep = (): void => {
    this.#sweepTimer = undefined;
    const now = this.#clock.now();
    let idleLeft = false;
    for (const state of this.#states.values()) {
      const idle = state.idle;
      if (idle.length === 0) continue;
      // Bottom of the stack first: the oldest go first and the warmest `min` stay.
      const victims: [PooledResource<R>, DestroyReason][] = [];
      let left = idle.length;
      let kept = 0;
      for (const entry of idle) {
        let reason: DestroyReason | undefined;
        if (now >= entry.expiresAt) reason = 'max-lifetime';
        else if (now - entry.idleSince >= this.idleTimeoutMs && left > this.min) {
          reason = 'idle-timeout';
        }
        if (reason === undefined) idle[kept++] = entry;
        else {
          victims.push([entry, reason]);
          left--;
        }
      }
      idle.length = kept;
      for (const [entry, reason] of victims) this.#destroy(entry, reason);
      if (victims.length > 0) this.#fill(state);
      if (state.idle.length > 0) idleLeft = true;
    }
    if (idleLeft) this.#armSweeper();
  };

  // ---- closing ----------------------------------------------------------------------------

  #allStates(): UpstreamState<R>[] {
    return [...this.#states.values(), ...this.#retired];
  }

  /** Rejects `state`'s waiters, destroys its idle resources, stops its refills and creations. */
  #retire(state: UpstreamState<R>, error: PoolClosedError, reason: DestroyReason): void {
    if (state.refillTimer !== undefined) {
      state.refillTimer.cancel();
      state.refillTimer = undefined;
    }
    for (let waiter = state.waiters.shift(); waiter !== undefined; waiter = state.waiters.shift()) {
      waiter.detach();
      waiter.reject(error);
    }
    for (const entry of state.idle.splice(0)) this.#destroy(entry, reason);
    for (const creation of this.#creations) {
      if (creation.state === state) creation.controller?.abort(error);
    }
  }

  async #shutdown(graceMs: number): Promise<void> {
    if (this.#sweepTimer !== undefined) {
      this.#sweepTimer.cancel();
      this.#sweepTimer = undefined;
    }
    const states = this.#allStates();
    const error = new PoolClosedError();
    for (const state of states) this.#retire(state, error, 'closed');
    if (!this.#drained()) {
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimer(() => {
          this.#onDrained = undefined;
          resolve();
        }, graceMs);
        this.#onDrained = () => {
          this.#onDrained = undefined;
          timer.cancel();
          resolve();
        };
      });
    }
    // The grace is over: what is still leased is taken back and destroyed.
    for (const state of states) {
      for (const entry of [...state.all]) {
        if (entry.status !== LEASED) continue;
        state.leased--;
        this.#destroy(entry, 'closed');
      }
    }
  }

  #drained(): boolean {
    if (this.#destroying.size > 0) return false;
    for (const state of this.#allStates()) {
      if (state.leased > 0 || state.pending > 0) return false;
    }
    return true;
  }

  #checkDrained(): void {
    if (this.#onDrained !== undefined && this.#drained()) this.#onDrained();
  }
}
