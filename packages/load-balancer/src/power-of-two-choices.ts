/**
 * Why: Finagle's and tower's default balancer — power of two choices over least-loaded — is O(1)
 * per pick at any pool size and nearly as good as a full least-conn scan. The load is Envoy's
 * LEAST_REQUEST cost for unequal weights, (in_flight + 1) / weight, so an idle pool still favours
 * heavier upstreams; with equal weights it is plain in-flight count.
 */
import type { LoadBalancerOptions } from './load-balancer.js';
import { TwoChoiceBalancer } from './two-choices.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/**
 * The less loaded of two random available upstreams, load being (in-flight + 1) / weight.
 *
 * @example
 * ```ts
 * const p2c = new PowerOfTwoChoices({ upstreams, availability: [breakers] });
 * const upstream = p2c.pick();
 * ```
 */
export class PowerOfTwoChoices<U extends UpstreamLike = UpstreamLike> extends TwoChoiceBalancer<U> {
  /** @throws RangeError naming the first invalid option */
  constructor(options: LoadBalancerOptions<U> = {}) {
    super('PowerOfTwoChoices', options);
  }

  /** The lower (in-flight + 1) / weight; `a` on a tie. */
  protected prefer(a: UpstreamEntry<U>, b: UpstreamEntry<U>, now: number): UpstreamEntry<U> {
    // (a.in + 1) / wa <= (b.in + 1) / wb, without dividing.
    return (a._inFlight + 1) * this.weightOf(b, now) <= (b._inFlight + 1) * this.weightOf(a, now)
      ? a
      : b;
  }
}
