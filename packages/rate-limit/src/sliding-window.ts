/**
 * Why: "N per minute" quotas must hold in every minute, not only in calendar minutes: a fixed
 * window admits 2N across a boundary. The popular fix — Cloudflare's sliding-window counter,
 * which weighs the previous window by its overlap — smooths the rollover but is an estimate and
 * can still admit more than N in some window. This one keeps the window in `buckets` time
 * buckets and, like the retry budget in @proxykit/retry-budget, counts one bucket more than the
 * window, so it never lends: at every admission, the cost admitted in the `windowMs` before it
 * (that admission included) is at most `limit`, and therefore so is the cost in any window of
 * `windowMs`. The price is at most one bucket of caution (it may refuse up to `windowMs / buckets`
 * early), the rollover moves in steps of one bucket, and a key costs `buckets + 1` small integers.
 */
import { type Clock, requireInteger, requireNumber, systemClock } from '@proxykit/core';
import { clockReader } from './clock-reader.js';
import {
  costError,
  MAX_RATE_OPTION,
  type RateDecision,
  type RateLimiter,
  toDecision,
} from './rate-limiter.js';

/** Options for {@link SlidingWindow}. */
export interface SlidingWindowOptions {
  /** Most cost admitted in any window of `windowMs`, an integer in [1, 1e9]. */
  readonly limit: number;
  /** The window, in ms, in (0, 1e12]. */
  readonly windowMs: number;
  /**
   * Buckets the window is kept in, an integer in [1, 1000]; default 10. More buckets: less
   * caution (at most `windowMs / buckets`) and a finer rollover, more state per key.
   */
  readonly buckets?: number;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

/** @internal One window's counts: a ring of `buckets + 1` bucket counts. */
export class WindowCounter {
  /** Counts per bucket; `counts[slot]` is the current bucket `head`. */
  readonly counts: number[];
  /** Index (time / bucketMs, floored) of the newest bucket. */
  head: number = -Infinity;
  slot = 0;
  /** Sum of `counts`. */
  total = 0;

  constructor(size: number) {
    this.counts = Array.from({ length: size }, () => 0);
  }
}

/**
 * A sliding window of `limit` per `windowMs` that never admits more than `limit` in any window of
 * `windowMs`, kept in `buckets` buckets. Costs are integers in [1, limit].
 *
 * The guarantee: for every window `(t − windowMs, t]`, the admitted cost in it is at most
 * `limit`. It refuses a call only when the cost admitted in the last `windowMs + windowMs /
 * buckets` leaves no room for it.
 *
 * @example
 * ```ts
 * const quota = new SlidingWindow({ limit: 1000, windowMs: 60_000, buckets: 12 });
 * const wait = quota.admit(); // 0, or ms until the oldest bucket that frees enough room expires
 * ```
 */
export class SlidingWindow implements RateLimiter {
  /** The configured limit. */
  readonly limit: number;
  /** The configured window in ms. */
  readonly windowMs: number;
  /** The configured number of buckets. */
  readonly buckets: number;
  /** The largest cost of one call: `limit`. */
  readonly maxCost: number;
  /** @internal */
  readonly bucketMs: number;
  /** @internal */
  readonly clock: Clock;
  readonly #readClock: () => number;
  readonly #window: WindowCounter;

  /** @throws RangeError naming the first invalid option */
  constructor(options: SlidingWindowOptions) {
    const owner = 'SlidingWindow';
    this.limit = requireInteger(owner, 'limit', options.limit, 1, 1e9);
    this.windowMs = requireNumber(owner, 'windowMs', options.windowMs, 0, MAX_RATE_OPTION);
    this.buckets = requireInteger(owner, 'buckets', options.buckets ?? 10, 1, 1000);
    this.maxCost = this.limit;
    this.bucketMs = this.windowMs / this.buckets;
    this.clock = options.clock ?? systemClock;
    this.#readClock = clockReader(this.clock);
    this.#window = this.newCounter();
  }

  /**
   * Admits a call of `cost` and returns 0, or returns the ms until enough old buckets expire.
   * See {@link RateLimiter.admit}.
   *
   * @param cost units this call uses, an integer in [1, limit] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   * @throws RangeError when `cost` is out of range
   */
  admit(cost = 1, now: number = this.#readClock()): number {
    if (!(cost > 0 && cost <= this.limit && Number.isInteger(cost))) {
      throw costError('SlidingWindow', cost, this.limit, true);
    }
    return this.admitCounter(this.#window, cost, now);
  }

  /**
   * The decision of {@link SlidingWindow.admit} as a {@link RateDecision}.
   *
   * @param cost units this call uses, an integer in [1, limit] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  tryAdmit(cost = 1, now: number = this.#readClock()): RateDecision {
    return toDecision(this.admit(cost, now));
  }

  /**
   * Cost that could still be admitted at `now`.
   *
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  remaining(now: number = this.#readClock()): number {
    const window = this.#window;
    this.#roll(window, Math.floor(now / this.bucketMs));
    return this.limit - window.total;
  }

  /** Forgets every admission. */
  reset(): void {
    const window = this.#window;
    window.counts.fill(0);
    window.total = 0;
    window.head = -Infinity;
  }

  /**
   * A sliding window with `share` of this one's limit (at least 1) and the same window, buckets
   * and clock: what each of `1 / share` instances should enforce locally to stay within this
   * quota together.
   *
   * @param share in (0, 1]
   */
  scaled(share: number): SlidingWindow {
    requireNumber('SlidingWindow.scaled', 'share', share, 0, 1);
    return new SlidingWindow({
      limit: Math.max(1, Math.floor(this.limit * share + 1e-9)),
      windowMs: this.windowMs,
      buckets: this.buckets,
      clock: this.clock,
    });
  }

  /** @internal a fresh, empty window state */
  newCounter(): WindowCounter {
    return new WindowCounter(this.buckets + 1);
  }

  /** @internal true when `window` holds nothing that counts at `now` */
  isIdle(window: WindowCounter, now: number): boolean {
    return window.total === 0 || Math.floor(now / this.bucketMs) - window.head > this.buckets;
  }

  /** @internal the decision for one window state; `cost` already validated */
  admitCounter(window: WindowCounter, cost: number, now: number): number {
    const bucketMs = this.bucketMs;
    const index = Math.floor(now / bucketMs);
    if (index > window.head) this.#roll(window, index);
    const counts = window.counts;
    if (window.total + cost <= this.limit) {
      counts[window.slot] = (counts[window.slot] ?? 0) + cost;
      window.total += cost;
      return 0;
    }
    // Walk from the oldest bucket until enough cost would have expired; the k-th oldest
    // (head − buckets + k) leaves the counted buckets when the current bucket becomes head + k + 1.
    const need = window.total + cost - this.limit;
    const size = this.buckets + 1;
    let freed = 0;
    let slot = window.slot;
    for (let k = 0; k < size; k++) {
      slot = slot + 1 === size ? 0 : slot + 1;
      freed += counts[slot] ?? 0;
      if (freed >= need) return waitForBucket(window.head + k + 1, bucketMs, now);
    }
    // Unreachable: need <= total because cost <= limit.
    return waitForBucket(window.head + size, bucketMs, now);
  }

  /** Rolls `window` forward so that its current bucket is `index` (> head). */
  #roll(window: WindowCounter, index: number): void {
    if (index <= window.head) return;
    const size = this.buckets + 1;
    const counts = window.counts;
    if (index - window.head >= size) {
      counts.fill(0);
      window.total = 0;
      window.slot = 0;
      window.head = index;
      return;
    }
    let slot = window.slot;
    for (let head = window.head + 1; head <= index; head++) {
      slot = slot + 1 === size ? 0 : slot + 1;
      window.total -= counts[slot] ?? 0;
      counts[slot] = 0;
    }
    window.slot = slot;
    window.head = index;
  }
}

/**
 * The wait from `now` until bucket `index` starts, nudged so that `floor((now + wait) / bucketMs)`
 * really is `index` despite rounding.
 */
function waitForBucket(index: number, bucketMs: number, now: number): number {
  let wait = index * bucketMs - now;
  while (!(wait > 0) || Math.floor((now + wait) / bucketMs) < index) {
    // At least one unit in the last place of both `wait` and `now + wait`.
    const positive = wait > 0 ? wait : 0;
    wait = positive + ((Math.abs(now) + positive) * 2 * Number.EPSILON || Number.MIN_VALUE);
  }
  return wait;
}
