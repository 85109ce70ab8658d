/**
 * Why: the seed's original retry budget is the simpler form: a shared token bucket with a
 * ceiling in retries per second (`RetryBudget.new(100)`), independent of traffic. It suits a
 * caller that knows what retry rate its dependency can absorb. The seed refills the bucket from a
 * timer task; this one computes the refill from the clock when asked, so it owns no timer.
 */
import { systemClock, type Clock, requireNumber } from '@proxykit/core';
import type { RetryBudgetLike } from './retry-budget-like.js';

/** Options for {@link TokenBucketRetryBudget}. */
export interface TokenBucketRetryBudgetOptions {
  /** The ceiling: retries per second the bucket refills, in (0, 1e9]. */
  readonly retriesPerSecond: number;
  /**
   * Retries that may be taken at once after a quiet spell (the bucket's capacity), in
   * [1, 1e9]; default `max(1, retriesPerSecond)`: one second's worth. The bucket starts full.
   */
  readonly burst?: number;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * A retry budget that allows at most `retriesPerSecond` retries per second on average and
 * `burst` at once: over any interval of `t` ms it allows at most `burst + retriesPerSecond · t /
 * 1000` retries, whatever the traffic. Deposits do nothing: the ceiling does not grow with
 * traffic (use {@link RetryBudget} for a budget that does).
 *
 * @example
 * ```ts
 * const budget = new TokenBucketRetryBudget({ retriesPerSecond: 100 });
 * const retry = new RetryLayer({ maxAttempts: 3, budget });
 * ```
 */
export class TokenBucketRetryBudget implements RetryBudgetLike {
  /** The configured refill rate. */
  readonly retriesPerSecond: number;
  /** The configured capacity. */
  readonly burst: number;
  readonly #clock: Clock;
  readonly #perMs: number;
  #tokens: number;
  #last = -Infinity;

  /** @throws RangeError naming the first invalid option */
  constructor(options: TokenBucketRetryBudgetOptions) {
    const owner = 'TokenBucketRetryBudget';
    this.retriesPerSecond = requireNumber(
      owner,
      'retriesPerSecond',
      options.retriesPerSecond,
      0,
      1e9,
    );
    this.burst = requireNumber(
      owner,
      'burst',
      options.burst ?? Math.max(1, this.retriesPerSecond),
      1,
      1e9,
      true,
    );
    this.#clock = options.clock ?? systemClock;
    this.#perMs = this.retriesPerSecond / 1000;
    this.#tokens = this.burst;
  }

  /** Does nothing: this budget's ceiling does not depend on traffic. */
  deposit(): void {
    // Intentionally empty: see the class comment.
  }

  /**
   * Takes one token if there is one.
   *
   * @param now the time on the budget's clock (default: `clock.now()`)
   */
  tryWithdraw(now: number = this.#clock.now()): boolean {
    const tokens = this.#refill(now);
    if (tokens < 1) return false;
    this.#tokens = tokens - 1;
    return true;
  }

  /**
   * Tokens in the bucket now (fractional while refilling).
   *
   * @param now the time on the budget's clock (default: `clock.now()`)
   */
  available(now: number = this.#clock.now()): number {
    return this.#refill(now);
  }

  #refill(now: number): number {
    if (now > this.#last) {
      // The first call only sets the time: the bucket starts full.
      if (this.#last !== -Infinity) {
        this.#tokens = Math.min(this.burst, this.#tokens + (now - this.#last) * this.#perMs);
      }
      this.#last = now;
    }
    return this.#tokens;
  }
}
