/**
 * Why: an upstream must not flap in and out of rotation on one lost probe, nor stay out after one
 * good answer. HAProxy's `rise`/`fall`, Envoy's `healthy_threshold`/`unhealthy_threshold` and
 * Kubernetes' `successThreshold`/`failureThreshold` all settle it the same way: the state flips
 * only after a run of consecutive results of the other kind. This file is that rule and nothing
 * else — pure functions over an immutable status, so fast-check can drive it directly.
 */

/** The result of one active probe. */
export type ProbeResult = 'success' | 'failure';

/** Fields every {@link HealthStatus} carries, whatever its state. */
export interface HealthStatusFields {
  /** Successful probes in a row, up to and including the last one (0 after a failure). */
  readonly consecutiveSuccesses: number;
  /** Failed probes in a row, up to and including the last one (0 after a success). */
  readonly consecutiveFailures: number;
  /** Clock time (ms) the last probe's result was recorded; `undefined` before the first probe. */
  readonly lastProbeAt: number | undefined;
  /** Result of the last probe; `undefined` before the first probe. */
  readonly lastResult: ProbeResult | undefined;
  /** Why the last probe failed; `undefined` when it succeeded or none ran yet. */
  readonly lastError: unknown;
}

/** An upstream that active checks consider healthy: it may receive traffic. */
export interface HealthyStatus extends HealthStatusFields {
  /** Discriminant. */
  readonly state: 'healthy';
  /** Always true for a healthy status. */
  readonly healthy: true;
}

/** An upstream that active checks consider unhealthy: it must not receive traffic. */
export interface UnhealthyStatus extends HealthStatusFields {
  /** Discriminant. */
  readonly state: 'unhealthy';
  /** Always false for an unhealthy status. */
  readonly healthy: false;
}

/** The active-check status of one upstream: a discriminated union on `state` (and `healthy`). */
export type HealthStatus = HealthyStatus | UnhealthyStatus;

/** The two thresholds of the rise/fall rule. Both are integers >= 1. */
export interface HealthThresholds {
  /** Consecutive successful probes that make an unhealthy upstream healthy (HAProxy `rise`). */
  readonly healthyThreshold: number;
  /** Consecutive failed probes that make a healthy upstream unhealthy (HAProxy `fall`). */
  readonly unhealthyThreshold: number;
}

/** The status of an upstream before its first probe, in the given state. */
export function initialHealthStatus(state: HealthStatus['state']): HealthStatus {
  const fields = {
    consecutiveSuccesses: 0,
    consecutiveFailures: 0,
    lastProbeAt: undefined,
    lastResult: undefined,
    lastError: undefined,
  };
  return state === 'healthy'
    ? { state, healthy: true, ...fields }
    : { state, healthy: false, ...fields };
}

/**
 * Returns the status after one more probe result (the input is not changed).
 *
 * A success resets the failure run and extends the success run; an unhealthy upstream becomes
 * healthy when the success run reaches `healthyThreshold`. A failure does the mirror image with
 * `unhealthyThreshold`. Runs keep counting past their threshold, so `consecutiveFailures` always
 * says how long an upstream has been failing.
 *
 * @param at clock time the result is recorded at, kept as `lastProbeAt`
 * @param error why the probe failed (kept as `lastError` for a failure, ignored for a success)
 */
export function recordProbe(
  status: HealthStatus,
  result: ProbeResult,
  thresholds: HealthThresholds,
  at: number,
  error?: unknown,
): HealthStatus {
  if (result === 'success') {
    const consecutiveSuccesses = status.consecutiveSuccesses + 1;
    const healthy =
      status.state === 'healthy' || consecutiveSuccesses >= thresholds.healthyThreshold;
    const fields = {
      consecutiveSuccesses,
      consecutiveFailures: 0,
      lastProbeAt: at,
      lastResult: result,
      lastError: undefined,
    };
    return healthy
      ? { state: 'healthy', healthy: true, ...fields }
      : { state: 'unhealthy', healthy: false, ...fields };
  }
  const consecutiveFailures = status.consecutiveFailures + 1;
  const unhealthy =
    status.state === 'unhealthy' || consecutiveFailures >= thresholds.unhealthyThreshold;
  const fields = {
    consecutiveSuccesses: 0,
    consecutiveFailures,
    lastProbeAt: at,
    lastResult: result,
    lastError: error,
  };
  return unhealthy
    ? { state: 'unhealthy', healthy: false, ...fields }
    : { state: 'healthy', healthy: true, ...fields };
}
