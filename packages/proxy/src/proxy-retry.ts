// Why: the retry policy of the request path, from @proxykit/retry-budget's parts. A proxy cannot
// use a generic retry layer as it is: whether a request may be repeated depends on HTTP (only
// idempotent methods, RFC 9110 §9.2.2, and only while the body can be replayed) and on how far
// the previous attempt got (a request that reached the upstream is never repeated unless it is
// idempotent; one refused at connect time never reached it). Retries are capped by an Envoy-style
// budget shared by all requests, so they cannot multiply an outage, and are spaced by capped
// exponential backoff with decorrelated jitter between the base and the cap.

import { decorrelatedJitter, isIdempotentMethod, RetryBudget } from '@proxykit/retry-budget';
import type { ProxyConfig } from './proxy-config.js';

/** Error codes meaning the request never reached the upstream (safe to send elsewhere). */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EAI_AGAIN',
]);

/** True when `error` shows the request was never sent (the connection was never established). */
export function wasNeverSent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NOT_SENT_CODES.has(code);
}

/** Why a retry was refused, or `retry` when one may be sent. */
export type RetryVerdict = 'retry' | 'unsafe' | 'max-attempts' | 'deadline' | 'budget';

/** Decides retries and their waits for one proxy; shared by every request. */
export class RetryPolicy {
  /** The shared budget: retries stay within `retryBudgetPercent` of recent requests. */
  readonly budget: RetryBudget;
  readonly #maxAttempts: number;
  readonly #baseMs: number;
  readonly #maxMs: number;

  constructor(config: ProxyConfig) {
    this.budget = new RetryBudget({ budgetPercent: config.retryBudgetPercent });
    this.#maxAttempts = config.retryMaxAttempts;
    this.#baseMs = config.retryBackoffBaseMs;
    this.#maxMs = Math.max(config.retryBackoffBaseMs, config.retryBackoffMaxMs);
  }

  /** Counts a new request towards the budget (once per request, not per attempt). */
  requestStarted(): void {
    if (this.#maxAttempts > 1) this.budget.deposit();
  }

  /**
   * May the request be sent again after attempt number `attempts` failed?
   *
   * @param method the request method
   * @param replayable whether its body is buffered (or absent) and can be sent again
   * @param neverSent whether the failed attempt never reached the upstream
   * @param remainingMs time left before the request's deadline
   */
  verdict(
    method: string,
    replayable: boolean,
    neverSent: boolean,
    attempts: number,
    remainingMs: number,
  ): RetryVerdict {
    if (attempts >= this.#maxAttempts) return 'max-attempts';
    if (!replayable || (!neverSent && !isIdempotentMethod(method))) return 'unsafe';
    if (remainingMs <= this.#baseMs) return 'deadline';
    if (!this.budget.tryWithdraw()) return 'budget';
    return 'retry';
  }

  /** The wait before the next retry, given the previous wait (0 before the first). */
  backoffMs(previousMs: number): number {
    return decorrelatedJitter(
      previousMs === 0 ? this.#baseMs : previousMs,
      this.#baseMs,
      this.#maxMs,
    );
  }
}
