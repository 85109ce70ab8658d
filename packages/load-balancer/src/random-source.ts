/**
 * Why: randomised policies (Random, P2C, PeakEwma, least-conn tie-breaking) must be reproducible
 * in tests and simulations. Each takes its random numbers from an injectable source; production
 * uses `Math.random`, tests a seeded generator (mulberry32: tiny, fast, good enough for picking).
 */

/** Returns a number in [0, 1), like `Math.random`. */
export type RandomSource = () => number;

/**
 * A seeded pseudo-random source (mulberry32): the same seed gives the same sequence, for
 * deterministic tests and simulations. Not for cryptography.
 *
 * @example
 * ```ts
 * const p2c = new PowerOfTwoChoices({ upstreams, random: seededRandom(42) });
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
