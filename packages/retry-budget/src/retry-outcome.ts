/**
 * Why: whether to retry is decided from one attempt's outcome, and the same outcome is what the
 * hooks and events see. This file describes an outcome (a thrown error or a returned result, its
 * class from core's classifier, its HTTP status and its Retry-After hint) and holds the default
 * decision, which follows the seed's retryability matrix (only transient, upstream and timeout
 * failures retry; client, permanent and security errors never do, nor does a caller's abort) plus
 * one addition from RFC 6585: a 429 that says when to come back, within the time we would wait.
 */
import type { OutcomeClass } from '@proxykit/core';
import { isFailure } from '@proxykit/core';
import { retryAfterFromHeaders } from './retry-after.js';

interface OutcomeBase {
  /** The attempt (1, 2, …) that produced this outcome. */
  readonly attempt: number;
  /** The class the layer's classifier gave the outcome. */
  readonly outcomeClass: OutcomeClass;
  /** The HTTP status the result or error carries (`status` or `statusCode`), if any. */
  readonly status: number | undefined;
  /**
   * The wait the outcome asks for, in ms, before any cap: a `Retry-After` header on a 429 or
   * 503 result (or error), or an error's own `retryAfterMs`; `undefined` when there is none.
   */
  readonly retryAfterMs: number | undefined;
}

/** One attempt that threw (or rejected). */
export interface ErrorOutcome extends OutcomeBase {
  /** Discriminant. */
  readonly kind: 'error';
  /** What the attempt threw. */
  readonly error: unknown;
}

/** One attempt that returned a value the classifier did not call a success (e.g. a 503). */
export interface ResultOutcome<Res = unknown> extends OutcomeBase {
  /** Discriminant. */
  readonly kind: 'result';
  /** What the attempt returned. */
  readonly result: Res;
}

/** The outcome of one attempt that was not a success: what retry decisions and events see. */
export type RetryOutcome<Res = unknown> = ErrorOutcome | ResultOutcome<Res>;

function statusOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = value as { status?: unknown; statusCode?: unknown };
  const status = candidate.status ?? candidate.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The Retry-After hint of a result or error: the `Retry-After` header when the status is 429 or
 * 503 (the statuses RFC 9110 and RFC 6585 define it for), else a numeric `retryAfterMs` >= 0
 * (proxykit's RateLimitedError and BrokenCircuitError carry one).
 */
function retryAfterOf(
  value: unknown,
  status: number | undefined,
  nowMs: number,
): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (status === 429 || status === 503) {
    const fromHeader = retryAfterFromHeaders((value as { headers?: unknown }).headers, nowMs);
    if (fromHeader !== undefined) return fromHeader;
  }
  const own = (value as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof own === 'number' && own >= 0 ? own : undefined;
}

/**
 * Describes an attempt that threw.
 *
 * @param error what the attempt threw
 * @param outcomeClass its class, from the classifier
 * @param attempt the attempt's number (1 for the first)
 * @param nowMs wall-clock now (epoch ms), to read an HTTP-date Retry-After
 */
export function errorOutcome(
  error: unknown,
  outcomeClass: OutcomeClass,
  attempt: number,
  nowMs: number = Date.now(),
): ErrorOutcome {
  const status = statusOf(error);
  const retryAfterMs = retryAfterOf(error, status, nowMs);
  return { kind: 'error', error, outcomeClass, attempt, status, retryAfterMs };
}

/**
 * Describes an attempt that returned a value the classifier did not call a success.
 *
 * @param result what the attempt returned
 * @param outcomeClass its class, from the classifier
 * @param attempt the attempt's number (1 for the first)
 * @param nowMs wall-clock now (epoch ms), to read an HTTP-date Retry-After
 */
export function resultOutcome<Res>(
  result: Res,
  outcomeClass: OutcomeClass,
  attempt: number,
  nowMs: number = Date.now(),
): ResultOutcome<Res> {
  const status = statusOf(result);
  const retryAfterMs = retryAfterOf(result, status, nowMs);
  return { kind: 'result', result, outcomeClass, attempt, status, retryAfterMs };
}

/**
 * The default retry decision:
 *
 * - `transient`, `upstream` and `timeout` outcomes retry (core's `isFailure`): connection
 *   resets and refusals, 502/503/504, timeouts, unrecognised errors;
 * - a 429 retries only when it carries a Retry-After of at most `maxDelayMs` — the server asked
 *   us to come back within the time we are willing to wait; without a hint, or with a longer one,
 *   the 429 is handed back to the caller;
 * - everything else does not: `client` (4xx), `permanent` (500, 501, unknown host), `security`
 *   (401/403/407), proxykit's own protective rejections (an open breaker, a full queue, a rate
 *   limiter's refusal: retrying them defeats them) and `cancelled` (the caller gave up).
 *
 * @param outcome the failed attempt
 * @param maxDelayMs the longest wait the layer would make (its `maxDelayMs`)
 */
export function isRetryableByDefault(outcome: RetryOutcome, maxDelayMs: number): boolean {
  if (isFailure(outcome.outcomeClass)) return true;
  return (
    outcome.status === 429 &&
    outcome.outcomeClass === 'overloaded' &&
    outcome.retryAfterMs !== undefined &&
    outcome.retryAfterMs <= maxDelayMs
  );
}
