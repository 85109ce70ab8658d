/**
 * Why: a caller must tell "the pool is shutting down" from "the upstream refused" and from "no
 * resource came back in time" without string matching. Timeouts and a full queue use core's
 * `PoolTimeoutError` and `OverloadedError`; a closed pool (or an upstream taken out of it) is
 * this package's own rejection, branded like every proxykit error so core's classifier and guards
 * recognise it. It is `permanent`: retrying against a pool that is closing cannot succeed, and a
 * breaker must not count it against the upstream.
 */
import { isProxykitError, ProxykitError, type ProxykitErrorOptions } from '@proxykit/core';

/** An acquire was refused, or a waiter dropped, because the pool closed or the upstream was removed. */
export class PoolClosedError extends ProxykitError {
  /** Always `'PoolClosedError'`. */
  override readonly name: string = 'PoolClosedError';
  readonly category = 'permanent';
  readonly code = 'PROXYKIT_POOL_CLOSED';

  /** @param reason what happened, e.g. `the pool is closed` */
  constructor(reason = 'the pool is closed', options: ProxykitErrorOptions = {}) {
    super(`Upstream pool: ${reason}`, { stack: false, ...options });
  }
}

/** Type guard for {@link PoolClosedError} (works across copies of the package). */
export function isPoolClosedError(error: unknown): error is PoolClosedError {
  return isProxykitError(error) && error.code === 'PROXYKIT_POOL_CLOSED';
}
