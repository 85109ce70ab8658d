/**
 * Why: a retry budget is shared by every call that goes to one dependency, and there is more than
 * one way to keep one (a ratio of live traffic, a plain token bucket, something distributed).
 * Like tower's `Budget` trait and Finagle's `RetryBudget`, the retry layer talks to any of them
 * through two calls: one deposit per request, one withdrawal per retry.
 */

/**
 * What {@link RetryLayer} needs from a retry budget. {@link RetryBudget} (a ratio of live traffic
 * with a floor) and {@link TokenBucketRetryBudget} (a ceiling in retries per second) implement it;
 * so can your own. Both methods are called on the hot path: keep them cheap and synchronous.
 */
export interface RetryBudgetLike {
  /** Records one request (called once per call, before its first attempt). */
  deposit(): void;
  /**
   * Asks for one retry: returns true and records it when the budget has room, false (recording
   * nothing) when it has none.
   */
  tryWithdraw(): boolean;
}
