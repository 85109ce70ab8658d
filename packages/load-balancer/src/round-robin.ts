/**
 * Why: round robin is the default everyone expects, and with weights it must interleave rather
 * than burst: weights {a: 5, b: 1, c: 1} should give `a a b a c a a`, not `a a a a a b c` (the
 * classic LVS-style weighted round robin that undici's BalancedPool uses). This is nginx's smooth
 * weighted round robin (`ngx_http_upstream_get_peer`): every pick adds each available upstream's
 * weight to its current weight, picks the largest, and subtracts the total from the winner. Over
 * any window of Σweights picks each upstream is picked exactly `weight` times.
 *
 * Cost: O(n) per pick when weights differ (as in nginx), O(1) amortised when all weights are
 * equal — smooth WRR then degenerates to plain rotation, which is what it does here, skipping
 * unavailable upstreams as it goes.
 */
import { LoadBalancerBase, type LoadBalancerOptions } from './load-balancer.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/**
 * Smooth weighted round robin (nginx). Unavailable upstreams are skipped and their share is
 * spread over the others in the same interleaved way.
 *
 * @example
 * ```ts
 * const rr = new RoundRobin({ upstreams: [{ name: 'a', weight: 5 }, { name: 'b' }, { name: 'c' }] });
 * rr.pick(); // a, a, b, a, c, a, a, then again
 * ```
 */
export class RoundRobin<U extends UpstreamLike = UpstreamLike> extends LoadBalancerBase<U> {
  #cursor = -1;
  #uniform = true;

  /** @throws RangeError naming the first invalid option */
  constructor(options: LoadBalancerOptions<U> = {}) {
    super('RoundRobin', options);
  }

  /** Resets the current weights and notes whether all weights are equal. */
  protected override rebuild(): void {
    const list = this.list;
    const first = list[0]?._weight;
    let uniform = true;
    for (const entry of list) {
      entry._current = 0;
      if (entry._weight !== first) uniform = false;
    }
    this.#uniform = uniform;
  }

  /** Rotation when weights are equal; nginx's smooth weighted round robin otherwise. */
  protected select(_request: unknown, all: boolean, now: number): UpstreamEntry<U> | undefined {
    const list = this.list;
    const n = list.length;
    if (this.#uniform && !this.ramping) {
      let i = this.#cursor;
      for (let tried = 0; tried < n; tried++) {
        i = i + 1 >= n ? 0 : i + 1;
        const entry = list[i] as UpstreamEntry<U>;
        if (all || this.isUsable(entry)) {
          this.#cursor = i;
          return entry;
        }
      }
      return undefined;
    }
    let best: UpstreamEntry<U> | undefined;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const entry = list[i] as UpstreamEntry<U>;
      if (!(all || this.isUsable(entry))) continue;
      const weight = this.weightOf(entry, now);
      entry._current += weight;
      total += weight;
      if (best === undefined || entry._current > best._current) best = entry;
    }
    if (best !== undefined) best._current -= total;
    return best;
  }
}
