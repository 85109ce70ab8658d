/**
 * Why: a comparison is only fair when every contender calls the very same function. The
 * operations measured by the suites live here, once.
 */

/**
 * Resolves at once with its argument: the cheapest possible async call, so that what a
 * benchmark measures is the wrapper around it.
 */
// eslint-disable-next-line @typescript-eslint/require-await -- an `async` function is the point
export const echo = async (x: number): Promise<number> => x;

/** Resolves at once with 1; takes no argument, so cockatiel's `execute(fn)` can call it as is. */
// eslint-disable-next-line @typescript-eslint/require-await -- an `async` function is the point
export const work = async (): Promise<number> => 1;

/** Calls made by each case per iteration in the suites that measure a single wrapper. */
export const CALLS = 100;
