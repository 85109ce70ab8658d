/**
 * Why: a retry policy on its own multiplies load exactly when the dependency can least take it:
 * with `maxAttempts: 3` and everything failing, every request becomes three. A retry budget caps
 * retries at a share of live traffic, so a partial outage stays partial. This is Envoy's retry
 * budget vocabulary (`budget_percent`, default 20 %, plus a floor so a quiet service can still
 * retry) kept the way Finagle's `RetryBudget` and tower's `TpsBudget` keep it: every request
 * deposits, every retry withdraws, and the counts live in time buckets over a sliding window.
 *
 * Two things differ from tower, on purpose:
 *
 * - **Exact arithmetic.** tower turns `retry_percent` into an integer cost per retry
 *   (`(1.0 / percent) as isize`), which truncates: at 30 % a retry costs 3 deposits, so 33 % get
 *   through. Here the percentage is kept in millionths (`budgetPercent` to four decimal places)
 *   and a retry is allowed only while `(retries + 1) · 1_000_000 <= millionths · requests`, a
 *   comparison of integers that doubles hold exactly (up to 900 million requests per window). At
 *   30 %, 1000 requests allow exactly 300 retries; at 12.5 %, exactly 125.
 * - **A window that never lends.** Requests are counted over the last `buckets` buckets (the
 *   current one included), retries over the last `buckets + 1`. The request count therefore
 *   covers at most `windowMs` of the past and the retry count at least `windowMs`, so at every
 *   moment a retry is allowed, the retries of the past `windowMs` (this one included) are at most
 *   `max(floor, budgetPercent % · requests of the past windowMs)`, where
 *   `floor = ⌊minRetriesPerSecond · windowMs / 1000⌋`. The price is up to one bucket of slack:
 *   under steady load about `(buckets - 1) / buckets` of the nominal ratio is usable (18 % of a
 *   20 % budget with 10 buckets). A budget that errs must err on the side of the dependency.
 */
import {
  systemClock,
  type Clock,
  MAX_TIMER_DELAY_MS,
  requireInteger,
  requireNumber,
} from '@proxykit/core';
import type { RetryBudgetLike } from './retry-budget-like.js';

/** Options for {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed as a percentage of the requests in the window, in [0, 1000]; default 20
   * (Envoy's default). Kept to four decimal places (rounded down beyond that).
   */
  readonly budgetPercent?: number;
  /**
   * Retries always allowed per second whatever the traffic, so a service with little traffic can
   * still retry; >= 0, default 10 (Finagle's and tower's default). The window allows
   * `⌊minRetriesPerSecond · windowMs / 1000⌋` retries on this account.
   */
  readonly minRetriesPerSecond?: number;
  /** Length of the sliding window in ms, in (0, 2147483647]; default 10 000. */
  readonly windowMs?: number;
  /** Number of time buckets the window is kept in, an integer in [1, 1000]; default 10. */
  readonly buckets?: number;
  /** Time source; defaults to the system clock. Give the budget and the layer the same clock. */
  readonly clock?: Clock;
}

/** What {@link RetryBudget.snapshot} reports. */
export interface RetryBudgetSnapshot {
  /** Requests (deposits) counted in the window now. */
  readonly requests: number;
  /** Retries (withdrawals) counted in the window now. */
  readonly retries: number;
  /** Retries the budget would allow now, one after another, if no request came in meanwhile. */
  readonly available: number;
}

/** Parts per million in one percent. */
const PPM_PER_PERCENT = 10_000;
const PPM = 1_000_000;

/**
 * `Math.floor(x)`, except that a value within rounding error of an integer counts as that
 * integer: `0.1 · 10000 / 1000` means 1, not 0.9999….
 */
function floorExact(x: number): number {
  const nearest = Math.round(x);
  return Math.abs(x - nearest) <= 1e-9 * Math.max(1, nearest) ? nearest : Math.floor(x);
}

/**
 * A retry budget shared by every call to one dependency: each request deposits, each retry
 * withdraws, and a retry is allowed only while the retries of the sliding window stay within
 * `max(⌊minRetriesPerSecond · windowMs / 1000⌋, budgetPercent % of the window's requests)`.
 * No timer: buckets roll over lazily when the budget is used.
 *
 * The guarantee: at every moment `t` at which it grants a retry, the retries granted in
 * `(t − windowMs, t]` (this one included) are at most
 * `max(⌊minRetriesPerSecond · windowMs / 1000⌋, budgetPercent / 100 · requests deposited in
 * (t − windowMs, t])`, compared exactly (the percentage is kept to four decimal places, rounded
 * down). Requests are counted over the newest `buckets` buckets and retries over one more, so
 * the budget may refuse up to one bucket's worth early, never grant one late.
 *
 * @example
 * ```ts
 * const budget = new RetryBudget({ budgetPercent: 20, minRetriesPerSecond: 10 });
 * const retry = new RetryLayer({ maxAttempts: 3, budget });
 * ```
 */
export class RetryBudget implements RetryBudgetLike {
  /** The configured percentage. */
  readonly budgetPercent: number;
  /** The configured floor in retries per second. */
  readonly minRetriesPerSecond: number;
  /** The configured window length in ms. */
  readonly windowMs: number;
  /** The configured number of buckets. */
  readonly buckets: number;
  /** Retries the window always allows: `⌊minRetriesPerSecond · windowMs / 1000⌋`. */
  readonly minRetriesPerWindow: number;
  readonly #clock: Clock;
  readonly #bucketMs: number;
  /** `budgetPercent` in millionths of the request count. */
  readonly #ppm: number;
  /** Ring of `buckets + 1` slots; slot `#slot` is the current bucket `#head`. */
  readonly #requestRing: Float64Array;
  readonly #retryRing: Float64Array;
  #head = -Infinity;
  #slot = 0;
  /** Requests in the newest `buckets` slots. */
  #requests = 0;
  /** Retries in all `buckets + 1` slots. */
  #retries = 0;

  /** @throws RangeError naming the first invalid option */
  constructor(options: RetryBudgetOptions = {}) {
    const owner = 'RetryBudget';
    this.budgetPercent = requireNumber(
      owner,
      'budgetPercent',
      options.budgetPercent ?? 20,
      0,
      1000,
      true,
    );
    this.minRetriesPerSecond = requireNumber(
      owner,
      'minRetriesPerSecond',
      options.minRetriesPerSecond ?? 10,
      0,
      Number.MAX_SAFE_INTEGER,
      true,
    );
    this.windowMs = requireNumber(
      owner,
      'windowMs',
      options.windowMs ?? 10_000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.buckets = requireInteger(owner, 'buckets', options.buckets ?? 10, 1, 1000);
    this.#clock = options.clock ?? systemClock;
    this.#bucketMs = this.windowMs / this.buckets;
    this.#ppm = floorExact(this.budgetPercent * PPM_PER_PERCENT);
    this.minRetriesPerWindow = floorExact((this.minRetriesPerSecond * this.windowMs) / 1000);
    this.#requestRing = new Float64Array(this.buckets + 1);
    this.#retryRing = new Float64Array(this.buckets + 1);
  }

  /**
   * Records one request.
   *
   * @param now the time of the request on the budget's clock (default: `clock.now()`)
   */
  deposit(now: number = this.#clock.now()): void {
    const index = Math.floor(now / this.#bucketMs);
    if (index > this.#head) this.#advance(index);
    const ring = this.#requestRing;
    const slot = this.#slot;
    ring[slot] = (ring[slot] ?? 0) + 1;
    this.#requests++;
  }

  /**
   * Asks for one retry: records it and returns true when the window has room for it, returns
   * false and records nothing otherwise.
   *
   * @param now the time of the retry on the budget's clock (default: `clock.now()`)
   */
  tryWithdraw(now: number = this.#clock.now()): boolean {
    const index = Math.floor(now / this.#bucketMs);
    if (index > this.#head) this.#advance(index);
    const retries = this.#retries + 1;
    if (retries > this.minRetriesPerWindow && retries * PPM > this.#ppm * this.#requests) {
      return false;
    }
    const ring = this.#retryRing;
    const slot = this.#slot;
    ring[slot] = (ring[slot] ?? 0) + 1;
    this.#retries = retries;
    return true;
  }

  /**
   * The counts the next decision would use.
   *
   * @param now the time on the budget's clock (default: `clock.now()`)
   */
  snapshot(now: number = this.#clock.now()): RetryBudgetSnapshot {
    const index = Math.floor(now / this.#bucketMs);
    if (index > this.#head) this.#advance(index);
    const requests = this.#requests;
    const retries = this.#retries;
    const allowed = Math.max(this.minRetriesPerWindow, Math.floor((this.#ppm * requests) / PPM));
    return { requests, retries, available: Math.max(0, allowed - retries) };
  }

  /** Rolls the window forward to bucket `index` (> the current one). */
  #advance(index: number): void {
    const size = this.buckets + 1;
    const requestRing = this.#requestRing;
    const retryRing = this.#retryRing;
    if (index - this.#head >= size) {
      requestRing.fill(0);
      retryRing.fill(0);
      this.#requests = 0;
      this.#retries = 0;
      this.#slot = 0;
      this.#head = index;
      return;
    }
    let slot = this.#slot;
    for (let head = this.#head + 1; head <= index; head++) {
      // The slot after the current one holds the oldest bucket (head - buckets - 1): it leaves
      // the retry window now; its requests left the request window one bucket ago.
      slot = slot + 1 === size ? 0 : slot + 1;
      this.#retries -= retryRing[slot] ?? 0;
      retryRing[slot] = 0;
      requestRing[slot] = 0;
      // The next slot now holds the oldest bucket (head - buckets): its requests leave the
      // request window; its retries stay counted for one more bucket.
      const oldest = slot + 1 === size ? 0 : slot + 1;
      this.#requests -= requestRing[oldest] ?? 0;
    }
    this.#slot = slot;
    this.#head = index;
  }
}
