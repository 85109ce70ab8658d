/**
 * Why: retries that all come back at the same moment hit a recovering dependency as one wave.
 * These are the schedules of AWS's "Exponential Backoff and Jitter" article (Marc Brooker,
 * 2015): capped exponential backoff, "full jitter" (the article's recommendation, and our
 * default) and "decorrelated jitter". They are pure functions of their arguments, with the random
 * source injected, so property tests can check their bounds deterministically.
 *
 * Retries are counted from 0: `retry` is the number of retries already made, so the first retry
 * waits within [0, base], the second within [0, 2·base], the i-th (from 0) within
 * [0, min(cap, base·2^i)]. Like Envoy's and gRPC's first backoff, the first wait is at most `base`.
 */

/** A source of uniformly distributed numbers in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/** 2^1023 is the largest finite power of two; beyond it `base · 2^i` would be `0 · ∞ = NaN`. */
const MAX_EXPONENT = 1023;

/**
 * Capped exponential backoff without jitter: `min(cap, base · 2^retry)`.
 *
 * @param retry retries already made (0 for the first retry); negative or fractional values are
 *   treated as 0 and floored
 * @param baseMs the first retry's wait, in ms (>= 0)
 * @param capMs the longest wait, in ms (>= 0)
 * @returns the wait before this retry, in [0, capMs]
 */
export function exponentialBackoff(retry: number, baseMs: number, capMs: number): number {
  const exponent = Math.min(MAX_EXPONENT, Math.max(0, Math.floor(retry)) || 0);
  return Math.min(capMs, baseMs * 2 ** exponent);
}

/**
 * "Full jitter": a uniformly random wait in `[0, min(cap, base · 2^retry))`. Spreads retries the
 * most and, in the AWS article's simulation, does the least work for the dependency; the default
 * of {@link RetryLayer}.
 *
 * @param retry retries already made (0 for the first retry)
 * @param baseMs the first retry's largest wait, in ms (>= 0)
 * @param capMs the longest wait, in ms (>= 0)
 * @param random uniform in [0, 1); defaults to `Math.random`
 * @returns the wait before this retry, in [0, min(capMs, baseMs · 2^retry)]
 */
export function fullJitter(
  retry: number,
  baseMs: number,
  capMs: number,
  random: RandomSource = Math.random,
): number {
  return random() * exponentialBackoff(retry, baseMs, capMs);
}

/**
 * "Decorrelated jitter": `min(cap, random_between(base, 3 · previous))`, where `previous` is the
 * wait this function returned for the previous retry (use `base` before the first retry). Each
 * wait depends on the last one rather than on the retry count, so waits grow on average but
 * stay spread out.
 *
 * @param previousMs the previous wait in ms, or `baseMs` before the first retry
 * @param baseMs the shortest wait, in ms (>= 0)
 * @param capMs the longest wait, in ms (>= 0)
 * @param random uniform in [0, 1); defaults to `Math.random`
 * @returns the wait before this retry, in
 *   [min(capMs, baseMs), min(capMs, max(baseMs, 3 · previousMs))]
 */
export function decorrelatedJitter(
  previousMs: number,
  baseMs: number,
  capMs: number,
  random: RandomSource = Math.random,
): number {
  const high = Math.max(baseMs, 3 * previousMs);
  return Math.min(capMs, baseMs + random() * (high - baseMs));
}
