/**
 * Why: a token bucket, a leaky bucket used as a meter and GCRA are one algorithm written three
 * ways — the "virtual scheduling" form of ITU-T I.371's Generic Cell Rate Algorithm, which
 * redis-cell, throttled and Stripe's limiters use. Each unit of cost is given a slot `interval`
 * ms wide on a virtual schedule; the state is one number, the theoretical arrival time `tat` at
 * which the schedule frees up, and a call is admitted when it fits within `horizon` ms of now.
 * One number per limiter means one number per key in a keyed limiter and one small string in
 * Redis, and no timer ever: refilling is arithmetic on the next call.
 *
 * The three classes differ only in how they turn their options into `interval` and `horizon`.
 */
import type { Clock } from '@proxykit/core';
import { clockReader } from './clock-reader.js';
import {
  bookAfter,
  costError,
  type RateDecision,
  type RateLimiter,
  toDecision,
  waitUntil,
} from './rate-limiter.js';

/**
 * The shared arithmetic of {@link TokenBucket}, {@link LeakyBucket} (as a meter) and
 * {@link Gcra}: a virtual schedule with one slot of `interval` ms per unit of cost, of which at
 * most `horizon` ms may be booked ahead of now.
 *
 * A call of cost `c` at time `now` is admitted when `tat - (horizon - c · interval) <= now`; it
 * then books `c` slots: `tat = max(tat, now) + c · interval`, moved at least one unit in the last
 * place (`bookAfter`). Over any stretch of time from one admitted call to another `t` ms
 * later, the admitted cost is therefore at most `horizon / interval + t / interval` (up to
 * floating-point rounding).
 */
export abstract class VirtualSchedulingLimiter implements RateLimiter {
  /** The largest cost one call may ask for. */
  readonly maxCost: number;
  /** @internal ms of schedule per unit of cost */
  readonly interval: number;
  /** @internal how far ahead of now the schedule may be booked, in ms */
  readonly horizon: number;
  /** @internal whether costs must be integers */
  readonly integerCost: boolean;
  /** @internal the limiter's clock */
  readonly clock: Clock;
  /** @internal returns `clock.now()`, read the cheapest way */
  readonly readClock: () => number;
  /** @internal the class name, for error messages */
  readonly owner: string;
  /** @internal theoretical arrival time: when the booked schedule frees up */
  tat: number = -Infinity;

  /** @internal */
  protected constructor(
    owner: string,
    interval: number,
    horizon: number,
    maxCost: number,
    integerCost: boolean,
    clock: Clock,
  ) {
    this.owner = owner;
    this.interval = interval;
    this.horizon = horizon;
    this.maxCost = maxCost;
    this.integerCost = integerCost;
    this.clock = clock;
    this.readClock = clockReader(clock);
  }

  /**
   * Admits a call of `cost` and returns 0, or returns the ms until it would be admitted.
   * See {@link RateLimiter.admit}.
   *
   * @param cost units this call uses, in (0, maxCost] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   * @throws RangeError when `cost` is out of range
   */
  admit(cost = 1, now: number = this.readClock()): number {
    if (!(cost > 0 && cost <= this.maxCost) || (this.integerCost && !Number.isInteger(cost))) {
      throw costError(this.owner, cost, this.maxCost, this.integerCost);
    }
    const tat = this.tat;
    const booked = cost * this.interval;
    const allowAt = tat - (this.horizon - booked);
    if (allowAt <= now) {
      this.tat = bookAfter(tat > now ? tat : now, booked);
      return 0;
    }
    return waitUntil(allowAt, now);
  }

  /**
   * The decision of {@link VirtualSchedulingLimiter.admit} as a {@link RateDecision}.
   *
   * @param cost units this call uses, in (0, maxCost] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  tryAdmit(cost = 1, now: number = this.readClock()): RateDecision {
    return toDecision(this.admit(cost, now));
  }

  /** Forgets every admission: the limiter is as new (full). */
  reset(): void {
    this.tat = -Infinity;
  }

  /**
   * Cost booked ahead of `now` that has not drained yet, in units (0 when idle).
   *
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  backlog(now: number = this.readClock()): number {
    return this.tat > now ? (this.tat - now) / this.interval : 0;
  }
}
