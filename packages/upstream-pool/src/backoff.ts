/**
 * Why: a factory that keeps failing must be retried with growing pauses, never in a loop
 * (generic-pool's dispenser re-tries a failing factory as fast as it fails). The schedule is a
 * pure function of its arguments, apart from I/O, so tests can drive it with any random source:
 * "equal jitter" over a capped exponential, so that a fleet of pools reconnecting to a restarted
 * upstream spreads out while each wait stays at least half the nominal step.
 */

/** A source of uniformly distributed numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/** The largest exponent used, so that `2 ** n` stays exact and finite. */
const MAX_EXPONENT = 30;

/**
 * The wait before retry number `retry` (0 for the first): uniformly random in
 * `[step / 2, step]` where `step = min(capMs, baseMs · 2^retry)`.
 *
 * @param random uniform in [0, 1)
 */
export function backoffDelay(
  retry: number,
  baseMs: number,
  capMs: number,
  random: RandomSource,
): number {
  const step = Math.min(capMs, baseMs * 2 ** Math.min(Math.max(0, retry), MAX_EXPONENT));
  return step / 2 + (random() * step) / 2;
}
