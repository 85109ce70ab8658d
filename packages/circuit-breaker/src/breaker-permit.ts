/**
 * Why: `wrap` and `execute` must watch a promise to learn how a call ends, and in JavaScript that
 * costs one `.then` per call, more than the breaker's own bookkeeping. A caller that already awaits
 * the call (a proxy forwarding a request, a driver wrapper with its own try/catch) can tell the
 * breaker itself, as resilience4j's `acquirePermission` / `onSuccess` / `onError` do: ask for a
 * permit before the call, report the outcome on it after. While the breaker is closed every call
 * gets the same shared permit, so asking and reporting allocate nothing; a half-open probe (or a
 * call timed for slow-call counting) gets its own permit, which counts only its first report.
 */
import { NEVER_ABORTED } from '@proxykit/core';

/**
 * Permission for one call, from `tryAcquire()`: report how the call ended on it, exactly once.
 *
 * @example
 * ```ts
 * const permit = breaker.tryAcquire();
 * if (permit === undefined) throw breaker.rejection();
 * try {
 *   const rows = await pool.query(sql);
 *   permit.resolved(rows);
 *   return rows;
 * } catch (error) {
 *   permit.rejected(error);
 *   throw error;
 * }
 * ```
 */
export interface BreakerPermit {
  /**
   * Reports that the call resolved with `value`; the value is classified as `execute` would (with
   * the default classifier, a result with a 502/503/504 `status` counts as a failure).
   */
  resolved(value?: unknown): void;
  /**
   * Reports that the call failed with `error`. Pass the call's `signal` so that an abort by the
   * caller is told apart from a failure of the callee (it counts as neither).
   */
  rejected(error: unknown, signal?: AbortSignal): void;
}

/** @internal what a permit reports to: the circuit that issued it */
export interface PermitIssuer {
  /** Records the value of a call admitted while closed and not timed. */
  readonly onClosedValue: (value: unknown) => void;
  settleValue(value: unknown, ticket: number, startedAt: number): void;
  settleError(error: unknown, signal: AbortSignal, ticket: number, startedAt: number): void;
}

/** @internal the permit shared by every call a closed, untimed breaker admits */
export class ClosedPermit implements BreakerPermit {
  constructor(readonly issuer: PermitIssuer) {}

  resolved(value?: unknown): void {
    this.issuer.onClosedValue(value);
  }

  rejected(error: unknown, signal: AbortSignal = NEVER_ABORTED): void {
    this.issuer.settleError(error, signal, -1, 0);
  }
}

/**
 * @internal the permit of one probe or one timed call: it carries the probe's generation (-1 for
 * a call admitted while closed) and the start time, and ignores every report after the first, so
 * that a probe never gives its slot back twice
 */
export class CallPermit implements BreakerPermit {
  #open = true;

  constructor(
    readonly issuer: PermitIssuer,
    readonly ticket: number,
    readonly startedAt: number,
  ) {}

  resolved(value?: unknown): void {
    if (!this.#open) return;
    this.#open = false;
    this.issuer.settleValue(value, this.ticket, this.startedAt);
  }

  rejected(error: unknown, signal: AbortSignal = NEVER_ABORTED): void {
    if (!this.#open) return;
    this.#open = false;
    this.issuer.settleError(error, signal, this.ticket, this.startedAt);
  }
}
