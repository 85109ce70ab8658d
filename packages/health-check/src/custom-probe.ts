/**
 * Why: not every upstream speaks HTTP, and a TCP connect says little about a database. Envoy's
 * custom health checkers and Kubernetes' `exec` probes let the user decide; here any async
 * function is a probe — `SELECT 1` on a PostgreSQL pool, a Redis `PING`, a gRPC health call.
 * A `fetch`-style result with a status of 400 or more counts as a failure, so
 * `(t, signal) => fetch(url, { signal })` works as a probe without extra code.
 */
import { abortReason, defaultClassifier } from '@proxykit/core';
import { HealthProbeError } from './health-check-errors.js';
import type { HealthProbe, HealthTarget, ProbeFunction } from './health-probe.js';

function statusOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const candidate = value as { status?: unknown; statusCode?: unknown };
  const status = candidate.status ?? candidate.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * A probe made of any async function.
 *
 * @example
 * ```ts
 * const probe = new CustomProbe((_target, signal) => pool.query({ text: 'SELECT 1', signal }));
 * ```
 */
export class CustomProbe implements HealthProbe {
  readonly #check: ProbeFunction;

  /**
   * @param check resolves when the target is healthy, rejects (or resolves to an HTTP-like result
   *   with status >= 400) when it is not; it should stop when `signal` aborts
   * @throws TypeError when `check` is not a function
   */
  constructor(check: ProbeFunction) {
    if (typeof check !== 'function') {
      throw new TypeError('CustomProbe: check must be a function (target, signal) => Promise');
    }
    this.#check = check;
  }

  /** Runs the function; a thrown error or a rejected promise is the failure reason. */
  async probe(target: HealthTarget, signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw abortReason(signal);
    const result = await this.#check(target, signal);
    if (defaultClassifier.classifyResult(result) !== 'success') {
      const status = statusOf(result);
      throw new HealthProbeError(
        `probe of ${target.name}: result has status ${String(status)}`,
        'result',
        status,
      );
    }
  }
}
