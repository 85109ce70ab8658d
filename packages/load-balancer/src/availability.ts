/**
 * Why: a balancer must not send traffic to an upstream that a health checker marked down or whose
 * circuit breaker is open — but it should not depend on either package. Like Envoy, where health
 * checking and outlier detection both feed one "is this host usable" bit, every source of
 * availability plugs in through one tiny hook, asked at pick time: a function of the upstream, or
 * any object with `isAvailable(name)` (`KeyedCircuitBreaker`, a health checker).
 */
import type { UpstreamLike } from './upstream-entry.js';

/** Says whether `upstream` may be picked now. Called on the hot path: keep it cheap and synchronous. */
export type AvailabilityCheck<U extends UpstreamLike = UpstreamLike> = (upstream: U) => boolean;

/**
 * Anything that knows, by upstream name, whether an upstream may be picked now:
 * `KeyedCircuitBreaker<string>` from `@proxykit/circuit-breaker` (open breakers are unavailable),
 * a health checker, your own registry.
 */
export interface AvailabilitySource {
  /** True when the upstream named `name` may be picked now. */
  isAvailable(name: string): boolean;
}

/** An {@link AvailabilityCheck} or an {@link AvailabilitySource}; balancers accept either. */
export type AvailabilityHook<U extends UpstreamLike = UpstreamLike> =
  AvailabilityCheck<U> | AvailabilitySource;

/** Turns a hook into a check function (a source is asked by the upstream's name). */
export function toAvailabilityCheck<U extends UpstreamLike>(
  hook: AvailabilityHook<U>,
): AvailabilityCheck<U> {
  if (typeof hook === 'function') return hook;
  if (typeof hook === 'object' && typeof hook.isAvailable === 'function') {
    return (upstream: U) => hook.isAvailable(upstream.name);
  }
  throw new TypeError(
    'availability hooks must be functions of the upstream or objects with isAvailable(name)',
  );
}
