/**
 * Why: the seed's first limiter and the one most APIs publish ("10 requests per second, bursts of
 * 20"): a bucket of `capacity` tokens refilled at `refillPerSecond`, a call taking `cost` tokens.
 * Like Guava's and Bucket4j's buckets it refills by arithmetic on the next call, never from a
 * timer; unlike them it stores the bucket as the single time at which it will be full again
 * (GCRA's theoretical arrival time), so a keyed bucket costs one number per key.
 */
import { type Clock, requireNumber, systemClock } from '@proxykit/core';
import { MAX_RATE_OPTION } from './rate-limiter.js';
import { VirtualSchedulingLimiter } from './virtual-scheduling.js';

/** Options for {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Tokens the bucket holds when full — the largest burst — in (0, 1e12]. The bucket starts full. */
  readonly capacity: number;
  /** Tokens added per second, in (0, 1e12]; fractional rates are fine (0.5 is one every 2 s). */
  readonly refillPerSecond: number;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * A token bucket: bursts of up to `capacity`, `refillPerSecond` on average.
 *
 * The guarantee: over any interval from one admitted call to another `t` ms later, the admitted
 * cost is at most `capacity + refillPerSecond · t / 1000` (up to floating-point rounding).
 * A rejected call gets the exact time until enough tokens will be back.
 *
 * @example
 * ```ts
 * const bucket = new TokenBucket({ capacity: 20, refillPerSecond: 10 });
 * const wait = bucket.admit(); // 0: admitted; otherwise ms until a token is back
 * if (wait > 0) throw new RateLimitedError(wait);
 * ```
 */
export class TokenBucket extends VirtualSchedulingLimiter {
  /** The configured capacity. */
  readonly capacity: number;
  /** The configured refill rate, tokens per second. */
  readonly refillPerSecond: number;

  /** @throws RangeError naming the first invalid option */
  constructor(options: TokenBucketOptions) {
    const owner = 'TokenBucket';
    const capacity = requireNumber(owner, 'capacity', options.capacity, 0, MAX_RATE_OPTION);
    const refillPerSecond = requireNumber(
      owner,
      'refillPerSecond',
      options.refillPerSecond,
      0,
      MAX_RATE_OPTION,
    );
    const interval = 1000 / refillPerSecond;
    super(owner, interval, capacity * interval, capacity, false, options.clock ?? systemClock);
    this.capacity = capacity;
    this.refillPerSecond = refillPerSecond;
  }

  /**
   * Tokens in the bucket at `now` (fractional while refilling).
   *
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  tokens(now: number = this.clock.now()): number {
    return Math.max(0, this.capacity - this.backlog(now));
  }

  /**
   * A bucket with `share` of this one's capacity and refill rate (and the same clock): what each
   * of `1 / share` instances should enforce locally to stay within this limit together.
   *
   * @param share in (0, 1]
   */
  scaled(share: number): TokenBucket {
    requireNumber('TokenBucket.scaled', 'share', share, 0, 1);
    return new TokenBucket({
      capacity: this.capacity * share,
      refillPerSecond: this.refillPerSecond * share,
      clock: this.clock,
    });
  }
}
