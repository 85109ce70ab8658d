/**
 * Why: least-conn must look at every upstream; picking the better of two chosen at random is O(1)
 * and, as Mitzenmacher showed ("The Power of Two Choices in Randomized Load Balancing"), nearly as
 * good — exponentially better than one random choice. Finagle and tower build both their
 * least-loaded and their PeakEwma balancers on this one sampler (tower's `p2c::Balance` over a
 * `Load`); so do we: a policy supplies only how to compare two candidates.
 *
 * Availability: two distinct members are drawn; an unavailable draw is redrawn a bounded number
 * of times, then a scan lists the available members (into a reused array, no allocation) and two
 * of them are drawn from that. With everything available a pick is two draws and one comparison.
 */
import { LoadBalancerBase, type LoadBalancerOptions } from './load-balancer.js';
import type { UpstreamEntry, UpstreamLike } from './upstream-entry.js';

/** Draws for each of the two candidates before falling back to a scan. */
const DRAWS = 4;

/**
 * The sampler behind {@link PowerOfTwoChoices} and {@link PeakEwma}: draws two distinct available
 * upstreams at random and picks the one {@link TwoChoiceBalancer.prefer} prefers. Extend it for
 * another cost function.
 */
export abstract class TwoChoiceBalancer<
  U extends UpstreamLike = UpstreamLike,
> extends LoadBalancerBase<U> {
  /** Indices of the available members, filled by the fallback scan. */
  #scratch: Int32Array = new Int32Array(0);

  /**
   * @param owner the policy's name, for error messages
   * @param options the shared options
   * @param tracksLatency whether the policy needs latencies measured
   */
  protected constructor(owner: string, options: LoadBalancerOptions<U>, tracksLatency = false) {
    super(owner, options, tracksLatency);
  }

  /** Sizes the scratch array to the membership. */
  protected override rebuild(): void {
    if (this.#scratch.length < this.list.length) {
      this.#scratch = new Int32Array(Math.max(this.list.length, 2 * this.#scratch.length));
    }
  }

  /** Two random available members; the one {@link TwoChoiceBalancer.prefer} chooses. */
  protected select(_request: unknown, all: boolean, now: number): UpstreamEntry<U> | undefined {
    const list = this.list;
    const n = list.length;
    if (n === 1) {
      const only = list[0] as UpstreamEntry<U>;
      return all || this.isUsable(only) ? only : undefined;
    }
    const first = this.#draw(n, -1, all);
    if (first < 0) return this.#scan(n, all, now);
    const second = this.#draw(n, first, all);
    if (second < 0) return this.#scan(n, all, now);
    return this.prefer(list[first] as UpstreamEntry<U>, list[second] as UpstreamEntry<U>, now);
  }

  /** Of two candidates, the one to pick. `now` is the clock's time (0 if nothing needs it). */
  protected abstract prefer(
    a: UpstreamEntry<U>,
    b: UpstreamEntry<U>,
    now: number,
  ): UpstreamEntry<U>;

  /** A random available member other than `except`, or -1 after DRAWS misses. */
  #draw(n: number, except: number, all: boolean): number {
    const list = this.list;
    for (let draw = 0; draw < DRAWS; draw++) {
      let index: number;
      if (except < 0) {
        index = Math.floor(this.random() * n);
      } else {
        index = Math.floor(this.random() * (n - 1));
        if (index >= except) index++;
      }
      const entry = list[index];
      if (entry !== undefined && (all || this.isUsable(entry))) return index;
    }
    return -1;
  }

  /** Lists the available members and draws two of them (or returns the only one). */
  #scan(n: number, all: boolean, now: number): UpstreamEntry<U> | undefined {
    const list = this.list;
    const scratch = this.#scratch;
    let count = 0;
    for (let i = 0; i < n; i++) {
      if (all || this.isUsable(list[i] as UpstreamEntry<U>)) scratch[count++] = i;
    }
    if (count === 0) return undefined;
    const a = Math.floor(this.random() * count);
    const first = list[scratch[a] as number] as UpstreamEntry<U>;
    if (count === 1) return first;
    let b = Math.floor(this.random() * (count - 1));
    if (b >= a) b++;
    return this.prefer(first, list[scratch[b] as number] as UpstreamEntry<U>, now);
  }
}
