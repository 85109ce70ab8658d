/**
 * Why: a failed probe must say why in a way code can check — "status 500, expected 200–399" and
 * "body did not match /ok/" are different problems from "connection refused". Network errors are
 * passed on as Node raised them (ECONNREFUSED, ECONNRESET, …) and a probe cut at its timeout
 * rejects with core's TimeoutError; a probe that got an answer it does not accept rejects with
 * {@link HealthProbeError}, branded like every proxykit error so the guard works across copies.
 */
import { isProxykitError, ProxykitError, type ProxykitErrorOptions } from '@proxykit/core';

/** Why an answered probe was not accepted. */
export type HealthProbeFailure = 'status' | 'body' | 'result';

/** A probe got an answer, but not one that means healthy (a bad status, a body that does not match). */
export class HealthProbeError extends ProxykitError {
  /** Always `'HealthProbeError'`. */
  override readonly name: string = 'HealthProbeError';
  readonly category = 'upstream';
  readonly code = 'PROXYKIT_HEALTH_PROBE_FAILED';

  /**
   * @param message what was wrong, e.g. `HTTP probe of api-1: status 500, expected 200-399`
   * @param failure which check failed
   * @param status the HTTP status (or a custom probe result's status), when there was one
   */
  constructor(
    message: string,
    readonly failure: HealthProbeFailure,
    readonly status?: number,
    options: ProxykitErrorOptions = {},
  ) {
    super(message, { stack: false, ...options });
  }
}

/** Type guard for {@link HealthProbeError}. */
export function isHealthProbeError(error: unknown): error is HealthProbeError {
  return isProxykitError(error) && error.code === 'PROXYKIT_HEALTH_PROBE_FAILED';
}
