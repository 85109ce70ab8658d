/**
 * Why: the seed's `RateLimiter` protocol — `try_admit(cost, now)` answering `Admit` or
 * `NotNow(retry_after)` — in a form a hot path can afford. Every limiter answers with a number:
 * 0 when the call is admitted (its cost is charged), otherwise the milliseconds until the same
 * cost would be admitted (nothing is charged). A number allocates nothing and needs no branch on
 * a shape; the object form (`tryAdmit`) is there for code that prefers a discriminated union, and
 * its "admitted" answer is one shared frozen object, so it allocates only when it rejects.
 */

/** Admission verdict in object form: see {@link RateLimiter.tryAdmit}. */
export type RateDecision =
  | {
      /** The call may proceed now. */
      readonly admitted: true;
      /** Always 0 when admitted. */
      readonly retryAfterMs: 0;
    }
  | {
      /** The call must not proceed now. */
      readonly admitted: false;
      /** Milliseconds until the same cost would be admitted; always > 0. */
      readonly retryAfterMs: number;
    };

/** The "admitted" decision, shared by every limiter and every call. */
export const ADMITTED: RateDecision = Object.freeze({ admitted: true, retryAfterMs: 0 });

/**
 * Turns the numeric answer of `admit` (0, or the retry-after in ms) into a {@link RateDecision}.
 */
export function toDecision(retryAfterMs: number): RateDecision {
  return retryAfterMs === 0 ? ADMITTED : { admitted: false, retryAfterMs };
}

/**
 * A limiter for one stream of calls, decided synchronously from local state.
 *
 * Costs: a call asks for `cost` units (default 1). A cost must be greater than 0 and at most
 * {@link RateLimiter.maxCost}; a larger one could never be admitted, so asking for it is a
 * programming error and throws a `RangeError` naming the cost and the capacity.
 */
export interface RateLimiter {
  /** The largest cost one call may ask for (the capacity, limit or queue size). */
  readonly maxCost: number;
  /**
   * Admits the call and charges `cost` when the limit allows it now, returning 0; otherwise
   * charges nothing and returns the milliseconds (> 0) after which the same cost would be
   * admitted if nothing else were admitted meanwhile. Allocates nothing.
   *
   * @param cost units this call uses, in (0, maxCost] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   * @throws RangeError when `cost` is not in (0, maxCost] (or not an integer where one is needed)
   */
  admit(cost?: number, now?: number): number;
  /**
   * The same decision as {@link RateLimiter.admit} as a {@link RateDecision}: {@link ADMITTED}
   * or `{ admitted: false, retryAfterMs }`.
   *
   * @param cost units this call uses, in (0, maxCost] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   * @throws RangeError when `cost` is not in (0, maxCost]
   */
  tryAdmit(cost?: number, now?: number): RateDecision;
}

/**
 * A limiter that keeps one allowance per key (client address, user, API token): the shape
 * {@link RateLimitLayer} accepts besides a plain {@link RateLimiter}. Local keyed limiters answer
 * synchronously; a store-backed one (Redis) answers with a promise.
 */
export interface KeyedLimiter<K> {
  /** Always true: tells a {@link RateLimitLayer} to pick a key for each call. */
  readonly keyed: true;
  /** The largest cost one call may ask for. */
  readonly maxCost: number;
  /**
   * Admits a call for `key` and charges `cost` when its limit allows it, returning 0; otherwise
   * returns the milliseconds until it would (> 0).
   */
  admit(key: K, cost?: number): number | Promise<number>;
}

/** @internal Upper bound of numeric options: far above any real limit, far below float trouble. */
export const MAX_RATE_OPTION = 1e12;

/**
 * @internal Throws the RangeError for a cost outside (0, maxCost], or not an integer when
 * `integer` is set.
 */
export function costError(
  owner: string,
  cost: unknown,
  maxCost: number,
  integer: boolean,
): RangeError {
  const what = integer ? 'an integer' : 'a number';
  const detail =
    typeof cost === 'number' && cost > maxCost
      ? ` (a cost above the capacity ${String(maxCost)} could never be admitted)`
      : '';
  return new RangeError(
    `${owner}: cost must be ${what} in (0, ${String(maxCost)}], got ${String(cost)}${detail}`,
  );
}

/**
 * @internal `base + booked`, but at least one unit in the last place past `base`: a booking too
 * small to move the schedule (under half a unit in the last place of `base`, about 0.12 µs at
 * epoch milliseconds) still costs that unit, or calls of such costs would all be admitted for
 * nothing. The Redis script books the same way (redis-scripts.ts).
 */
export function bookAfter(base: number, booked: number): number {
  const next = base + booked;
  return next !== base ? next : base + Math.abs(base) * Number.EPSILON;
}

/**
 * @internal The wait from `now` until `at` (> now), nudged up by the rounding of `now + wait` so
 * that a caller who waits exactly the returned time and asks again at `now + wait` is admitted.
 */
export function waitUntil(at: number, now: number): number {
  let wait = at - now;
  // Each step is at least one unit in the last place of both `wait` and `now + wait`.
  while (now + wait < at) wait += (Math.abs(now) + Math.abs(wait)) * 2 * Number.EPSILON;
  return wait;
}
