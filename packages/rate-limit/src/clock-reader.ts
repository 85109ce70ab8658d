/**
 * Why: a local decision costs about 10 ns and reading the time several times that, so the way
 * the time is read shows in every decision. Core's `systemClock.now()` is `performance.now()`,
 * which looks the `performance` global up on every call — in Node an accessor on `globalThis` —
 * before Node's own brand check and clock read; the look-up alone measured about 15 ns of a
 * 45–65 ns read on a 2-core VM. The limiters therefore read the system clock through the
 * `performance` object captured once (the same monotonic time, read the same way after the
 * look-up); any other clock, such as a virtual one in tests, is read as it is.
 */
import { type Clock, systemClock } from '@proxykit/core';

const perf: typeof performance = performance;
const readSystemClock = (): number => perf.now();

/**
 * @internal A function that returns `clock.now()`: the same time, read without the global
 * look-up when `clock` is core's `systemClock`.
 */
export function clockReader(clock: Clock): () => number {
  return clock === systemClock ? readSystemClock : () => clock.now();
}
