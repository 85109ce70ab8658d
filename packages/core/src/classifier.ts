/**
 * Why: a breaker that trips on 404s, or a retry that repeats a 401, is the classic resilience
 * bug. Outcomes are classified in exactly one place, so every layer agrees on what a failure is.
 * The rules follow the seed's retryability matrix: transient/upstream errors, timeouts and
 * 502/503/504 are failures; 4xx and caller aborts are not.
 */
import { isAbortError } from './abort.js';
import { type ErrorCategory, isProxykitError, isTimeoutError } from './errors.js';

/**
 * The class of one call's outcome: `success`, `cancelled` (the caller aborted; nobody's fault)
 * or an {@link ErrorCategory}.
 */
export type OutcomeClass = 'success' | 'cancelled' | ErrorCategory;

/** Decides the {@link OutcomeClass} of thrown errors and of returned results. */
export interface OutcomeClassifier {
  /**
   * Classifies a thrown error. `signal` is the call's signal: when it has aborted, the outcome is
   * `cancelled` whatever was thrown — unless it aborted because a deadline passed (its reason is a
   * timeout), which is a `timeout`.
   */
  classifyError(error: unknown, signal?: AbortSignal): OutcomeClass;
  /** Classifies a returned value (an HTTP response with a 503 status is a failure). */
  classifyResult(result: unknown): OutcomeClass;
}

const NETWORK_CODES: Readonly<Record<string, ErrorCategory>> = {
  ECONNRESET: 'transient',
  EPIPE: 'transient',
  EAI_AGAIN: 'transient',
  ECONNABORTED: 'transient',
  UND_ERR_SOCKET: 'transient',
  UND_ERR_CLOSED: 'transient',
  ECONNREFUSED: 'upstream',
  EHOSTUNREACH: 'upstream',
  ENETUNREACH: 'upstream',
  EHOSTDOWN: 'upstream',
  ENETDOWN: 'upstream',
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ENOTFOUND: 'permanent',
};

/**
 * Category of an HTTP status code: 502/503/504 → `upstream`, 429 → `overloaded`,
 * 401/403/407 → `security`, other 4xx → `client`, other 5xx → `permanent`, anything else →
 * `success`.
 */
export function classifyStatus(status: number): OutcomeClass {
  if (status < 400) return 'success';
  if (status === 502 || status === 503 || status === 504) return 'upstream';
  if (status === 429) return 'overloaded';
  if (status === 401 || status === 403 || status === 407) return 'security';
  if (status < 500) return 'client';
  if (status < 600) return 'permanent';
  return 'success';
}

function statusOf(value: object): number | undefined {
  const candidate = value as { status?: unknown; statusCode?: unknown };
  const status = candidate.status ?? candidate.statusCode;
  return typeof status === 'number' ? status : undefined;
}

const MAX_CAUSE_DEPTH = 5;

/** True for the reasons a deadline aborts a signal with: TimeoutError (ours or the platform's). */
function isTimeoutReason(reason: unknown): boolean {
  return isTimeoutError(reason) || (reason instanceof Error && reason.name === 'TimeoutError');
}

function classifyThrown(error: unknown, depth: number): OutcomeClass | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  if (isProxykitError(error)) return error.category;
  if (isAbortError(error)) return 'cancelled';
  if (error instanceof Error && error.name === 'TimeoutError') return 'timeout';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    const category = NETWORK_CODES[code];
    if (category !== undefined) return category;
  }
  const status = statusOf(error);
  if (status !== undefined && status >= 400) return classifyStatus(status);
  if (depth < MAX_CAUSE_DEPTH && 'cause' in error) return classifyThrown(error.cause, depth + 1);
  return undefined;
}

/**
 * The shared default classifier.
 *
 * Errors: the caller's abort (or any `AbortError`) → `cancelled`, but a signal aborted by a
 * deadline (reason `TimeoutError`, as `TimeoutLayer` and `AbortSignal.timeout()` abort) → `timeout`; proxykit errors → their own
 * category; Node/undici network codes (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EHOSTUNREACH,
 * ENETUNREACH, EAI_AGAIN, …) → `transient`/`upstream`/`timeout`; errors carrying an HTTP
 * `status`/`statusCode` → by {@link classifyStatus}; the `cause` chain is searched too;
 * anything else → `upstream` (the wrapped dependency failed in a way we cannot tell apart).
 *
 * Results: objects with a numeric `status` or `statusCode` → by {@link classifyStatus};
 * everything else → `success`.
 */
export const defaultClassifier: OutcomeClassifier = Object.freeze({
  classifyError(error: unknown, signal?: AbortSignal): OutcomeClass {
    if (signal?.aborted === true) return isTimeoutReason(signal.reason) ? 'timeout' : 'cancelled';
    return classifyThrown(error, 0) ?? 'upstream';
  },
  classifyResult(result: unknown): OutcomeClass {
    if (typeof result !== 'object' || result === null) return 'success';
    const status = statusOf(result);
    return status === undefined ? 'success' : classifyStatus(status);
  },
});

/**
 * True for the outcomes a breaker counts and a retry may repeat: `transient`, `upstream` and
 * `timeout`. Protective rejections (`overloaded`), caller mistakes and cancellations are not.
 */
export function isFailure(outcome: OutcomeClass): boolean {
  return outcome === 'transient' || outcome === 'upstream' || outcome === 'timeout';
}
