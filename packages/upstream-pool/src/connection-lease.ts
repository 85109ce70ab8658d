/**
 * Why: the seed's `ConnectionLease` is an RAII guard whose Drop returns the connection to the pool
 * if it is still healthy. JavaScript's equivalent is explicit resource management: the lease is
 * `AsyncDisposable` and `Disposable`, so `await using lease = await pool.acquire(upstream)` gives
 * the resource back on every path out of the block, exceptions included. A lease is good for one
 * return: `release()` and `destroy()` after the first are no-ops, so a resource can never go back
 * to the pool twice and be handed to two callers at once (the double-release bug generic-pool
 * answers with an exception, and pools without a guard answer with corrupted connections).
 */
import type { PooledResource } from './upstream-state.js';
import type { Upstream } from './upstream.js';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * One caller's hold on a pooled resource. End it with `release()` (the resource goes back to the
 * pool if it is still reusable, otherwise it is destroyed), `destroy()` (it is destroyed), or let
 * `using` / `await using` release it.
 *
 * @typeParam R the pooled resource (`net.Socket` with the socket factory)
 *
 * @example
 * ```ts
 * await using lease = await pool.acquire(upstream, { signal });
 * lease.resource.write(request);
 * ```
 */
export class ConnectionLease<R> implements AsyncDisposable, Disposable {
  /** The leased resource. Do not use it after the lease ends. */
  readonly resource: R;
  /** The upstream it was acquired for. */
  readonly upstream: Upstream;
  /** @internal the pool's record of the resource */
  readonly entry: PooledResource<R>;

  /** @internal leases are made by the pool */
  constructor(entry: PooledResource<R>, upstream: Upstream) {
    this.entry = entry;
    this.resource = entry.resource;
    this.upstream = upstream;
  }

  /** True once the lease has ended (released, destroyed, or taken back by a closing pool). */
  get released(): boolean {
    return this.entry.lease !== this;
  }

  /**
   * Gives the resource back: to the oldest waiter or the idle pool if it is still reusable (the
   * factory's `recycle` check, within `maxLifetimeMs`, not dead), otherwise it is destroyed.
   * A no-op once the lease has ended.
   */
  release(): void {
    const entry = this.entry;
    if (entry.lease === this) entry.owner.release(entry, this);
  }

  /**
   * Destroys the resource instead of giving it back (use it when the connection's state is
   * unknown, e.g. after a protocol error). A no-op once the lease has ended.
   *
   * @param reason why, reported in the pool's `destroy` event
   */
  destroy(reason?: unknown): void {
    const entry = this.entry;
    if (entry.lease === this) entry.owner.destroy(entry, this, reason);
  }

  /** Releases the resource (`using lease = …`). */
  [Symbol.dispose](): void {
    this.release();
  }

  /** Releases the resource (`await using lease = …`); the promise is already resolved. */
  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return RESOLVED;
  }
}
