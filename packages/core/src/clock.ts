/**
 * Why: breakers, limiters and timeouts compute their state from time. Taking time from an
 * injectable clock lets tests and fast-check models run on virtual time, deterministically,
 * while production uses the monotonic `performance.now()`.
 */

/** A timer created by a {@link Clock}. */
export interface ClockTimer {
  /** Stops the timer; its callback will not run. Safe to call more than once. */
  cancel(): void;
  /** Lets the timer keep the process alive (the default). */
  ref(): void;
  /** Lets the process exit even though the timer is pending. */
  unref(): void;
}

/** A source of monotonic time in milliseconds and of timers that follow it. */
export interface Clock {
  /** Monotonic milliseconds (fractional) since an arbitrary origin. */
  now(): number;
  /** Runs `callback` once after `delayMs` milliseconds of this clock's time. */
  setTimer(callback: () => void, delayMs: number): ClockTimer;
}

class SystemTimer implements ClockTimer {
  readonly #handle: NodeJS.Timeout;

  constructor(callback: () => void, delayMs: number) {
    this.#handle = setTimeout(callback, delayMs);
  }

  cancel(): void {
    clearTimeout(this.#handle);
  }

  ref(): void {
    this.#handle.ref();
  }

  unref(): void {
    this.#handle.unref();
  }
}

/**
 * `performance` captured once: in Node the global is an accessor on `globalThis`, and looking it
 * up on every read measured about 15 ns of a 45–65 ns read.
 */
const perf: typeof performance = performance;

/** The real clock: `performance.now()` and Node's timers. */
export const systemClock: Clock = {
  now: () => perf.now(),
  setTimer: (callback, delayMs) => new SystemTimer(callback, delayMs),
};
