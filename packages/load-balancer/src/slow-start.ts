/**
 * Why: an upstream that has just started (cold caches, JIT, empty connection pools) or has just
 * recovered falls over again if it immediately receives its full share. Slow start ramps its
 * weight up over a window instead — Envoy's `slow_start_config` (window, aggression, minimum
 * weight percent) and HAProxy's `slowstart`: weight × max(minWeight, (t / window)^(1 / aggression)).
 */
import { MAX_TIMER_DELAY_MS, requireNumber } from '@proxykit/core';

/** Slow-start settings of a balancer (Envoy's `slow_start_config`). */
export interface SlowStartOptions {
  /** How long the ramp lasts, in ms, in (0, 2147483647]. */
  readonly windowMs: number;
  /**
   * Shape of the ramp, in (0, 100] (default 1: linear). Above 1 the weight rises quickly at first,
   * below 1 slowly at first: the fraction of the window elapsed is raised to 1 / aggression.
   */
  readonly aggression?: number;
  /** The lowest weight during the ramp, in percent of the full weight, in [0, 100] (default 10). */
  readonly minWeightPercent?: number;
}

/** @internal validated slow-start settings */
export interface SlowStartSettings {
  readonly windowMs: number;
  readonly exponent: number;
  readonly minFactor: number;
}

/** @internal validates `options` for `owner` */
export function resolveSlowStart(
  owner: string,
  options: SlowStartOptions | undefined,
): SlowStartSettings | undefined {
  if (options === undefined) return undefined;
  const windowMs = requireNumber(
    owner,
    'slowStart.windowMs',
    options.windowMs,
    0,
    MAX_TIMER_DELAY_MS,
  );
  const aggression = requireNumber(owner, 'slowStart.aggression', options.aggression ?? 1, 0, 100);
  const minWeightPercent = requireNumber(
    owner,
    'slowStart.minWeightPercent',
    options.minWeightPercent ?? 10,
    0,
    100,
    true,
  );
  return { windowMs, exponent: 1 / aggression, minFactor: minWeightPercent / 100 };
}

/**
 * @internal The share of the full weight an upstream gets `elapsedMs` into its ramp, in
 * (0, 1]; 1 once the window has passed. As in Envoy, elapsed time counts as at least 1 ms.
 */
export function slowStartFactor(settings: SlowStartSettings, elapsedMs: number): number {
  if (elapsedMs >= settings.windowMs) return 1;
  const fraction = Math.max(elapsedMs, 1) / settings.windowMs;
  const ramp = settings.exponent === 1 ? fraction : fraction ** settings.exponent;
  return Math.min(1, Math.max(ramp, settings.minFactor));
}
