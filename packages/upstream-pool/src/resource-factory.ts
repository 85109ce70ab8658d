/**
 * Why: the pool's rules (bounds, waiters, retries, idle and lifetime limits, draining) do not
 * depend on what is pooled. Like generic-pool's and tarn's factories, a resource is whatever
 * `create` resolves with; unlike them, `create` gets the upstream it is for and an AbortSignal
 * (so a connect can be cancelled when the pool closes or the create times out), and the factory
 * can tell the pool that a resource died while idle (`watch`) instead of the pool finding out
 * when it hands a dead one to a caller. The TCP/TLS `socketFactory` is one such factory; a
 * database driver's connection is another.
 */
import type { Upstream } from './upstream.js';

/**
 * Creates, checks and destroys the resources of an {@link UpstreamPool}.
 *
 * @typeParam R the pooled resource
 *
 * @example
 * ```ts
 * const factory: ResourceFactory<pg.Client> = {
 *   async create(upstream, signal) {
 *     const client = new pg.Client({ host: upstream.host, port: upstream.port });
 *     signal.addEventListener('abort', () => void client.end(), { once: true });
 *     await client.connect();
 *     return client;
 *   },
 *   destroy: (client) => client.end(),
 *   watch: (client, onDead) => client.once('error', onDead).once('end', () => onDead()),
 * };
 * ```
 */
export interface ResourceFactory<R> {
  /**
   * Creates a resource connected to `upstream`. Should reject soon after `signal` aborts (the pool
   * aborts it when the pool closes and when `createTimeoutMs` passes); a resource that arrives
   * after the pool closed is destroyed at once.
   */
  create(upstream: Upstream, signal: AbortSignal): Promise<R>;
  /** Releases the resource for good. Errors (thrown or rejected) are ignored. */
  destroy(resource: R): void | Promise<void>;
  /**
   * Whether an idle resource may be handed out; asked just before every hand-out of an idle
   * resource. `false` destroys it and the pool tries the next one. Must be cheap and synchronous.
   * Default: always reusable.
   */
  isReusable?(resource: R): boolean;
  /**
   * Called when a lease ends: makes the resource ready for its next user and says whether it can
   * be reused (`false` destroys it). Must be cheap and synchronous. Default: `isReusable`.
   */
  recycle?(resource: R): boolean;
  /**
   * Called once per resource, right after it is created: call `onDead` when the resource dies on
   * its own (its socket closed, its connection ended). An idle resource that dies is removed from
   * the pool at once, so it is never handed out; a leased one is destroyed when its lease ends.
   */
  watch?(resource: R, onDead: (reason?: unknown) => void): void;
}
