/**
 * Why: with upstreams of mixed capacity, the fairest cheap signal is how many calls each is
 * already serving relative to its weight — the seed's WeightedLeastConn, argmin(in_flight /
 * weight), HAProxy's `leastconn` and nginx's `least_conn`. Ties are broken at random, in
 * proportion to weight, so that an idle pool still honours the weights and concurrent balancers do
 * not all pick the first upstream of the list.
 *
 * Cost: O(n) per pick — a scan of every upstream (and a second partial scan to break a tie).
 * Past a few hundred upstreams prefer PowerOfTwoChoices, which is O(1) and nearly as good.
 */
import { LoadBalancerBase, type LoadBalancerOptions } from './load-balancer.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/**
 * Picks the available upstream with the fewest calls in flight per unit of weight; ties go to a
 * weighted random choice among the tied upstreams.
 *
 * @example
 * ```ts
 * const leastConn = new WeightedLeastConn({ upstreams: [{ name: 'big', weight: 4 }, { name: 'small' }] });
 * const entry = leastConn.pickEntry();
 * ```
 */
export class WeightedLeastConn<U extends UpstreamLike = UpstreamLike> extends LoadBalancerBase<U> {
  /** Which entries passed the availability checks in the first pass (1) or not (0). */
  #usable: Uint8Array = new Uint8Array(0);

  /** @throws RangeError naming the first invalid option */
  constructor(options: LoadBalancerOptions<U> = {}) {
    super('WeightedLeastConn', options);
  }

  /** Sizes the scratch array to the membership. */
  protected override rebuild(): void {
    if (this.#usable.length < this.list.length) {
      this.#usable = new Uint8Array(Math.max(this.list.length, 2 * this.#usable.length));
    }
  }

  /** argmin(inFlight / weight), ties broken by weight. */
  protected select(_request: unknown, all: boolean, now: number): UpstreamEntry<U> | undefined {
    const list = this.list;
    const n = list.length;
    const usable = this.#usable;
    let best: UpstreamEntry<U> | undefined;
    let bestLoad = 0; // best's in-flight count …
    let bestWeight = 1; // … over its weight
    let tieWeight = 0;
    let ties = 0;
    for (let i = 0; i < n; i++) {
      const entry = list[i] as UpstreamEntry<U>;
      if (!(all || this.isUsable(entry))) {
        usable[i] = 0;
        continue;
      }
      usable[i] = 1;
      const weight = this.weightOf(entry, now);
      const load = entry._inFlight;
      // load / weight compared with bestLoad / bestWeight, without dividing.
      const lhs = load * bestWeight;
      const rhs = bestLoad * weight;
      if (best === undefined || lhs < rhs) {
        best = entry;
        bestLoad = load;
        bestWeight = weight;
        tieWeight = weight;
        ties = 1;
      } else if (lhs === rhs) {
        tieWeight += weight;
        ties++;
      }
    }
    if (ties <= 1) return best;
    let target = this.random() * tieWeight;
    for (let i = 0; i < n; i++) {
      if (usable[i] === 0) continue;
      const entry = list[i] as UpstreamEntry<U>;
      const weight = this.weightOf(entry, now);
      if (entry._inFlight * bestWeight !== bestLoad * weight) continue;
      target -= weight;
      if (target < 0) return entry;
      best = entry;
    }
    return best;
  }
}
