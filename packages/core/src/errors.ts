/**
 * Why: callers must tell "the breaker is open" from "the upstream refused" without string
 * matching, and layers must classify outcomes the same way everywhere. Every rejection proxykit
 * raises is one class here, with a category from the shared taxonomy and a type guard that works
 * across duplicated copies of the package (a brand, not `instanceof`).
 *
 * Rejections raised on hot paths (open breaker, limiter says no, queue full) are created without
 * a stack trace: they are raised at a known place in the library, and capturing a stack would be
 * most of their cost.
 */

/**
 * The error taxonomy shared by every package.
 *
 * - `transient`: a glitch that may pass on its own (connection reset, broken pipe, DNS try-again).
 * - `upstream`: the dependency is unavailable or failed (connection refused, host unreachable,
 *   502/503/504, an unrecognised error thrown by the wrapped call).
 * - `timeout`: no answer in time.
 * - `overloaded`: a protective rejection (open breaker, rate limit, full queue, no healthy upstream).
 * - `client`: the request itself is wrong (4xx other than 401/403/407/429).
 * - `permanent`: will fail the same way again (500/501, unknown host).
 * - `security`: authentication or authorisation refused (401/403/407).
 */
export type ErrorCategory =
  'transient' | 'upstream' | 'timeout' | 'overloaded' | 'client' | 'permanent' | 'security';

/** Every category, in declaration order. */
export const ERROR_CATEGORIES: readonly ErrorCategory[] = Object.freeze([
  'transient',
  'upstream',
  'timeout',
  'overloaded',
  'client',
  'permanent',
  'security',
]);

/** The brand every proxykit error carries (a registered symbol, shared by all copies). */
export const PROXYKIT_ERROR: unique symbol = Symbol.for('@proxykit/core/error');

/** Options accepted by every proxykit error. */
export interface ProxykitErrorOptions {
  /** The underlying error, kept as the standard `cause`. */
  readonly cause?: unknown;
  /** Capture a stack trace (default: true for most errors, false for hot-path rejections). */
  readonly stack?: boolean;
}

/** Base class of every error proxykit raises. */
export abstract class ProxykitError extends Error {
  /** Where the error sits in the taxonomy. */
  abstract readonly category: ErrorCategory;
  /** Stable machine-readable code, e.g. `PROXYKIT_TIMEOUT`. */
  abstract readonly code: string;
  static {
    // The brand lives on the prototype: every instance carries it at no per-instance cost.
    Object.defineProperty(this.prototype, PROXYKIT_ERROR, { value: true });
  }

  /** Creates the error; `options.stack: false` skips the stack capture. */
  constructor(message: string, options: ProxykitErrorOptions = {}) {
    const limit = Error.stackTraceLimit;
    if (options.stack === false) Error.stackTraceLimit = 0;
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    Error.stackTraceLimit = limit;
  }
}

/** True when `error` is any proxykit error (from any copy of the package). */
export function isProxykitError(error: unknown): error is ProxykitError {
  return typeof error === 'object' && error !== null && PROXYKIT_ERROR in error;
}

function hasCode(error: unknown, code: string): boolean {
  return isProxykitError(error) && error.code === code;
}

/** A call did not finish before its deadline. */
export class TimeoutError extends ProxykitError {
  /** Always `'TimeoutError'`. */
  override readonly name: string = 'TimeoutError';
  readonly category = 'timeout';
  readonly code = 'PROXYKIT_TIMEOUT';

  /** @param timeoutMs the deadline that passed */
  constructor(
    readonly timeoutMs: number,
    options: ProxykitErrorOptions = {},
  ) {
    super(`Operation timed out after ${String(timeoutMs)} ms`, { stack: false, ...options });
  }
}

/** Type guard for {@link TimeoutError}. */
export function isTimeoutError(error: unknown): error is TimeoutError {
  return hasCode(error, 'PROXYKIT_TIMEOUT');
}

/** A concurrency limit or its queue is full, or the wait in the queue timed out. */
export class OverloadedError extends ProxykitError {
  /** Always `'OverloadedError'`. */
  override readonly name: string = 'OverloadedError';
  readonly category = 'overloaded';
  readonly code = 'PROXYKIT_OVERLOADED';

  /** @param reason what was full: e.g. `concurrency limit 10 reached and queue full (0)` */
  constructor(reason: string, options: ProxykitErrorOptions = {}) {
    super(`Overloaded: ${reason}`, { stack: false, ...options });
  }
}

/** Type guard for {@link OverloadedError}. */
export function isOverloadedError(error: unknown): error is OverloadedError {
  return hasCode(error, 'PROXYKIT_OVERLOADED');
}

/**
 * A circuit breaker is open (or isolated) and rejected the call without running it.
 *
 * A breaker may hand the same instance to every call it rejects while it stays open, so that a
 * rejection allocates nothing; `retryAfterMs` is then computed when read, so it is always current.
 */
export class BrokenCircuitError extends ProxykitError {
  /** Always `'BrokenCircuitError'`. */
  override readonly name: string = 'BrokenCircuitError';
  readonly category = 'overloaded';
  readonly code = 'PROXYKIT_BROKEN_CIRCUIT';
  readonly #retryAfter: number | (() => number);

  /**
   * @param retryAfterMs time until the breaker admits a probe (Infinity while isolated), or a
   *   function that computes it when read
   * @param isolated true when the breaker was opened by hand
   */
  constructor(
    retryAfterMs: number | (() => number),
    readonly isolated = false,
    options: ProxykitErrorOptions = {},
  ) {
    super(
      isolated
        ? 'Circuit is isolated'
        : typeof retryAfterMs === 'number'
          ? `Circuit is open; retry after ${String(Math.ceil(retryAfterMs))} ms`
          : 'Circuit is open',
      { stack: false, ...options },
    );
    this.#retryAfter = retryAfterMs;
  }

  /** Milliseconds until the breaker admits a call (Infinity while isolated). */
  get retryAfterMs(): number {
    const retryAfter = this.#retryAfter;
    return typeof retryAfter === 'number' ? retryAfter : retryAfter();
  }
}

/** Type guard for {@link BrokenCircuitError}. */
export function isBrokenCircuitError(error: unknown): error is BrokenCircuitError {
  return hasCode(error, 'PROXYKIT_BROKEN_CIRCUIT');
}

/** A rate limiter refused the call; `retryAfterMs` is when it would admit it. */
export class RateLimitedError extends ProxykitError {
  /** Always `'RateLimitedError'`. */
  override readonly name: string = 'RateLimitedError';
  readonly category = 'overloaded';
  readonly code = 'PROXYKIT_RATE_LIMITED';

  /** @param retryAfterMs time until the limiter admits the same cost */
  constructor(
    readonly retryAfterMs: number,
    options: ProxykitErrorOptions = {},
  ) {
    super(`Rate limited; retry after ${String(Math.ceil(retryAfterMs))} ms`, {
      stack: false,
      ...options,
    });
  }
}

/** Type guard for {@link RateLimitedError}. */
export function isRateLimitedError(error: unknown): error is RateLimitedError {
  return hasCode(error, 'PROXYKIT_RATE_LIMITED');
}

/** A load balancer found no available upstream. */
export class NoHealthyUpstreamError extends ProxykitError {
  /** Always `'NoHealthyUpstreamError'`. */
  override readonly name: string = 'NoHealthyUpstreamError';
  readonly category = 'overloaded';
  readonly code = 'PROXYKIT_NO_HEALTHY_UPSTREAM';

  /** @param total number of upstreams configured, for the message */
  constructor(
    readonly total: number,
    options: ProxykitErrorOptions = {},
  ) {
    super(`No healthy upstream (0 of ${String(total)} available)`, { stack: false, ...options });
  }
}

/** Type guard for {@link NoHealthyUpstreamError}. */
export function isNoHealthyUpstreamError(error: unknown): error is NoHealthyUpstreamError {
  return hasCode(error, 'PROXYKIT_NO_HEALTHY_UPSTREAM');
}

/** A pool could not hand out a resource before the acquire timeout. */
export class PoolTimeoutError extends ProxykitError {
  /** Always `'PoolTimeoutError'`. */
  override readonly name: string = 'PoolTimeoutError';
  readonly category = 'overloaded';
  readonly code = 'PROXYKIT_POOL_TIMEOUT';

  /** @param timeoutMs the acquire timeout that passed */
  constructor(
    readonly timeoutMs: number,
    options: ProxykitErrorOptions = {},
  ) {
    super(`Pool acquire timed out after ${String(timeoutMs)} ms`, { stack: false, ...options });
  }
}

/** Type guard for {@link PoolTimeoutError}. */
export function isPoolTimeoutError(error: unknown): error is PoolTimeoutError {
  return hasCode(error, 'PROXYKIT_POOL_TIMEOUT');
}

/** A retry was due but the retry budget had no room; `cause` is the last failure. */
export class RetryBudgetExhaustedError extends ProxykitError {
  /** Always `'RetryBudgetExhaustedError'`. */
  override readonly name: string = 'RetryBudgetExhaustedError';
  readonly category = 'overloaded';
  readonly code = 'PROXYKIT_RETRY_BUDGET_EXHAUSTED';

  /** @param cause the failure that would have been retried */
  constructor(cause: unknown, options: ProxykitErrorOptions = {}) {
    super('Retry budget exhausted', { stack: false, ...options, cause });
  }
}

/** Type guard for {@link RetryBudgetExhaustedError}. */
export function isRetryBudgetExhaustedError(error: unknown): error is RetryBudgetExhaustedError {
  return hasCode(error, 'PROXYKIT_RETRY_BUDGET_EXHAUSTED');
}
