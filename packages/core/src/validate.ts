/**
 * Why: every options object is validated in its constructor with a RangeError that names the
 * option and the allowed range. These helpers keep those messages uniform across packages.
 */

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * Throws a RangeError unless `value` is an integer in [min, max].
 *
 * @param owner the class or function being configured, e.g. `ConcurrencyLimitLayer`
 * @param option the option name, e.g. `maxConcurrent`
 */
export function requireInteger(
  owner: string,
  option: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `>= ${String(min)}` : `in [${String(min)}, ${String(max)}]`;
    throw new RangeError(`${owner}: ${option} must be an integer ${range}, got ${describe(value)}`);
  }
  return value;
}

/**
 * Throws a RangeError unless `value` is a number in (min, max] (or [min, max] when
 * `inclusiveMin`). Infinity is accepted only when `max` is Infinity.
 */
export function requireNumber(
  owner: string,
  option: string,
  value: unknown,
  min: number,
  max: number,
  inclusiveMin = false,
): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (inclusiveMin ? value >= min : value > min) &&
    value <= max;
  if (!ok) {
    const open = inclusiveMin ? '[' : '(';
    throw new RangeError(
      `${owner}: ${option} must be a number in ${open}${String(min)}, ${String(max)}], got ${describe(value)}`,
    );
  }
  return value;
}

/** The longest delay Node's timers accept, in milliseconds (2^31 - 1). */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;
