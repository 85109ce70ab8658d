/**
 * Why: a local decision costs about 10 ns and reading the time several times that, so the way
 * the time is read shows in every decision. Each limiter keeps one function that reads its
 * clock, chosen once: one shared reader of core's `systemClock` (whose `now` reads a captured
 * `performance` object, not the global accessor), or, for any other clock such as a virtual one
 * in tests, a function that asks it. Every limiter on the system clock then calls the same
 * function, which V8 inlines.
 */
import { type Clock, systemClock } from '@proxykit/core';

const readSystemClock = (): number => systemClock.now();

/** @internal A function that returns `clock.now()`, shared by every limiter on `systemClock`. */
export function clockReader(clock: Clock): () => number {
  return clock === systemClock ? readSystemClock : () => clock.now();
}
