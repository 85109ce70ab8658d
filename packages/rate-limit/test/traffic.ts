/**
 * Why: every limiter's property test needs the same two things — random traffic on virtual time
 * that crowds the edges where limiters count wrong (bursts at one instant, fractional gaps, gaps
 * of exactly a period), and exact checks of what was admitted against the promised bound.
 */
import { fc } from '@fast-check/vitest';

/** One admitted call: when, and at what cost. */
export interface Admission {
  readonly at: number;
  readonly cost: number;
}

/** A burst of `tries` calls of `cost` after a gap, in ms. */
export interface Step {
  readonly gapMs: number;
  readonly tries: number;
  /** A fraction in (0, 1] of the limiter's largest cost (mapped by each test). */
  readonly costShare: number;
}

/**
 * Traffic with gaps from 0 to `maxGapMs`, integer and fractional, and some gaps of exactly
 * `period` (or a multiple) so that calls land on window and refill boundaries.
 */
export function steps(maxGapMs: number, period: number, maxLength = 80): fc.Arbitrary<Step[]> {
  return fc.array(
    fc.record({
      gapMs: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: Math.ceil(maxGapMs) }),
        fc.double({ min: 0, max: maxGapMs, noNaN: true, noDefaultInfinity: true }),
        fc.integer({ min: 1, max: 3 }).map((k) => k * period),
      ),
      tries: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 12 })),
      costShare: fc.oneof(
        fc.constant(1e-9),
        fc.double({ min: 1e-9, max: 1, noNaN: true }),
        fc.constant(1),
      ),
    }),
    { maxLength },
  );
}

/**
 * The worst excess of admitted cost over `capacity + perMs · t` across every interval from one
 * admission to a later one (`t` = their distance): ≤ 0 means the token-bucket bound held.
 * Linear time: for each j, the best i ≤ j maximises `perMs · at_i − cost before i`.
 */
export function worstRateExcess(
  admitted: readonly Admission[],
  capacity: number,
  perMs: number,
): number {
  let worst = -Infinity;
  let before = 0; // cost admitted before index j
  let bestStart = -Infinity; // max over i ≤ j of perMs · at_i − cost before i
  for (const { at, cost } of admitted) {
    bestStart = Math.max(bestStart, perMs * at - before);
    before += cost;
    worst = Math.max(worst, before - perMs * at + bestStart - capacity);
  }
  return worst;
}

/**
 * How much shorter than its nominal length a window is measured, to absorb floating-point
 * rounding of times around `t`: 1e-9 ms plus a trillionth of `t` (0.001 ms at t = 1e9 ms, where
 * one unit in the last place of a double is 1.2e-7 ms).
 */
export function rounding(t: number): number {
  return 1e-9 + 1e-12 * Math.abs(t);
}

/**
 * The largest cost admitted in any window `(t − windowMs, t]` (times must be nondecreasing),
 * measured up to {@link rounding}; only windows ending at an admission matter. Two pointers:
 * linear time.
 */
export function maxInWindow(admitted: readonly Admission[], windowMs: number): number {
  let worst = 0;
  let sum = 0;
  let first = 0;
  for (const { at, cost } of admitted) {
    sum += cost;
    const from = at - windowMs + rounding(at);
    while (first < admitted.length && (admitted[first]?.at ?? 0) <= from) {
      sum -= admitted[first]?.cost ?? 0;
      first++;
    }
    worst = Math.max(worst, sum);
  }
  return worst;
}

/** Cost admitted in `(from, to]`. */
export function costIn(admitted: readonly Admission[], from: number, to: number): number {
  let sum = 0;
  for (const { at, cost } of admitted) if (at > from && at <= to) sum += cost;
  return sum;
}
