/**
 * Why: random choice needs no shared "next" counter, so many balancers (one per worker, one per
 * proxy) picking at once do not fall into lockstep and stampede the same upstream — the seed's
 * reason for it, and Envoy's RANDOM policy. Weighted: each available upstream is chosen with
 * probability weight / Σ(available weights).
 *
 * Cost: O(1) with equal weights, O(log n) with unequal ones (binary search over cumulative weights
 * rebuilt on membership change). An unavailable draw is redrawn a few times, which keeps the
 * distribution exact (rejection sampling); after that, one O(n) weighted scan over the available
 * upstreams decides. While slow start ramps a weight the scan is used, since weights then move.
 */
import { LoadBalancerBase, type LoadBalancerOptions } from './load-balancer.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/** Draws before falling back to a scan. */
const DRAWS = 4;

/**
 * Weighted random choice among the available upstreams.
 *
 * @example
 * ```ts
 * const random = new Random({ upstreams: [{ name: 'big', weight: 3 }, { name: 'small' }] });
 * random.pick(); // big three times out of four
 * ```
 */
export class Random<U extends UpstreamLike = UpstreamLike> extends LoadBalancerBase<U> {
  #uniform = true;
  #cumulative: Float64Array = new Float64Array(0);
  #total = 0;

  /** @throws RangeError naming the first invalid option */
  constructor(options: LoadBalancerOptions<U> = {}) {
    super('Random', options);
  }

  /** Rebuilds the cumulative weights. */
  protected override rebuild(): void {
    const list = this.list;
    if (this.#cumulative.length < list.length) {
      this.#cumulative = new Float64Array(Math.max(list.length, 2 * this.#cumulative.length));
    }
    const first = list[0]?._weight;
    let uniform = true;
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const weight = (list[i] as UpstreamEntry<U>)._weight;
      if (weight !== first) uniform = false;
      total += weight;
      this.#cumulative[i] = total;
    }
    this.#uniform = uniform;
    this.#total = total;
  }

  /** Draws by weight; redraws unavailable upstreams, then scans. */
  protected select(_request: unknown, all: boolean, now: number): UpstreamEntry<U> | undefined {
    const list = this.list;
    const n = list.length;
    if (!this.ramping) {
      for (let draw = 0; draw < DRAWS; draw++) {
        const index = this.#uniform
          ? Math.floor(this.random() * n)
          : this.#search(this.random() * this.#total, n);
        const entry = list[index];
        if (entry !== undefined && (all || this.isUsable(entry))) return entry;
      }
    }
    return this.#scan(all, now);
  }

  /** First index whose cumulative weight exceeds `target`. */
  #search(target: number, n: number): number {
    const cumulative = this.#cumulative;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cumulative[mid] as number) > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Weighted choice among the available upstreams, by one pass to sum and one to choose. */
  #scan(all: boolean, now: number): UpstreamEntry<U> | undefined {
    const list = this.list;
    let total = 0;
    for (const entry of list) {
      if (all || this.isUsable(entry)) total += this.weightOf(entry, now);
    }
    if (total === 0) return undefined;
    let target = this.random() * total;
    let last: UpstreamEntry<U> | undefined;
    for (const entry of list) {
      if (!(all || this.isUsable(entry))) continue;
      last = entry;
      target -= this.weightOf(entry, now);
      if (target < 0) return entry;
    }
    return last;
  }
}
