/**
 * Why: the Generic Cell Rate Algorithm (ITU-T I.371, the ATM policer; redis-cell and Stripe use
 * it for APIs) keeps one timestamp per key and decides with two additions and a comparison — the
 * cheapest exact limiter there is. Configured here as a quota, "`limit` per `periodMs`", with the
 * guarantee a quota promises: no window of `periodMs` ever holds more than `limit`, and `burst`
 * of them may come back to back.
 *
 * The arithmetic (the proof is in gcra.test.ts): with emission interval
 * `T = periodMs / (limit − burst + 1)` and `burst · T` of schedule bookable ahead, admitted calls
 * in any window shorter than `periodMs` book `Σcost · T ≤ (last − first) + burst · T <
 * (limit + 1) · T`, so `Σcost ≤ limit` for integer costs. The usual reading "T = period / limit
 * with a tolerance of (burst − 1) · T" does not give that: it admits up to `limit + burst − 1` in
 * a window. A burst therefore costs sustained rate here: `limit − burst + 1` per period. For a
 * rate plus a burst on top (redis-cell's `CL.THROTTLE key max_burst count period`), use
 * `TokenBucket({ capacity: max_burst + 1, refillPerSecond: count / period })`: the same
 * arithmetic, the other guarantee.
 */
import { type Clock, requireInteger, requireNumber, systemClock } from '@proxykit/core';
import { MAX_RATE_OPTION } from './rate-limiter.js';
import { VirtualSchedulingLimiter } from './virtual-scheduling.js';

/** Options for {@link Gcra}. */
export interface GcraOptions {
  /** Most cost admitted in any window of `periodMs`, an integer in [1, 1e9]. */
  readonly limit: number;
  /** The window, in ms, in (0, 1e12]. */
  readonly periodMs: number;
  /**
   * Cost that may be admitted back to back (and the largest cost of one call), an integer in
   * [1, limit]; default 1: calls evenly spaced, one every `periodMs / limit`. Each unit of burst
   * above 1 lowers the sustained rate by one per period (see the class comment).
   */
  readonly burst?: number;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * GCRA configured as a quota: at most `limit` in any window of `periodMs`, up to `burst` at once,
 * one timestamp of state. Costs are integers in [1, burst].
 *
 * The guarantee: for every window `(t − periodMs, t]`, the admitted cost in it is at most `limit`;
 * the sustained rate is `limit − burst + 1` per `periodMs`.
 *
 * @example
 * ```ts
 * // 100 per minute, evenly spaced (one every 600 ms):
 * const perMinute = new Gcra({ limit: 100, periodMs: 60_000 });
 * // 100 per minute, 10 of them back to back (sustained: 91 per minute):
 * const bursty = new Gcra({ limit: 100, periodMs: 60_000, burst: 10 });
 * ```
 */
export class Gcra extends VirtualSchedulingLimiter {
  /** The configured limit per period. */
  readonly limit: number;
  /** The configured period in ms. */
  readonly periodMs: number;
  /** The configured burst. */
  readonly burst: number;

  /** @throws RangeError naming the first invalid option */
  constructor(options: GcraOptions) {
    const owner = 'Gcra';
    const limit = requireInteger(owner, 'limit', options.limit, 1, 1e9);
    const periodMs = requireNumber(owner, 'periodMs', options.periodMs, 0, MAX_RATE_OPTION);
    const burst = requireInteger(owner, 'burst', options.burst ?? 1, 1, limit);
    const interval = periodMs / (limit - burst + 1);
    super(owner, interval, burst * interval, burst, true, options.clock ?? systemClock);
    this.limit = limit;
    this.periodMs = periodMs;
    this.burst = burst;
  }

  /** Milliseconds between two calls at the sustained rate: `periodMs / (limit − burst + 1)`. */
  get emissionIntervalMs(): number {
    return this.interval;
  }

  /**
   * Cost that could be admitted back to back at `now` (an integer in [0, burst]).
   *
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  remaining(now: number = this.clock.now()): number {
    return Math.max(0, Math.floor(this.burst - this.backlog(now) + 1e-9));
  }

  /**
   * A GCRA with `share` of this one's limit (at least 1; the burst scaled alike and kept within
   * the new limit) and the same period and clock: what each of `1 / share` instances should
   * enforce locally to stay within this quota together.
   *
   * @param share in (0, 1]
   */
  scaled(share: number): Gcra {
    requireNumber('Gcra.scaled', 'share', share, 0, 1);
    const limit = Math.max(1, Math.floor(this.limit * share + 1e-9));
    const burst = Math.min(limit, Math.max(1, Math.floor(this.burst * share + 1e-9)));
    return new Gcra({ limit, periodMs: this.periodMs, burst, clock: this.clock });
  }
}
