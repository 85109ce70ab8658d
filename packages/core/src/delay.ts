/**
 * Why: retries back off, pools retry a failing factory, shapers hold calls back. Each such wait
 * must end early when the caller aborts and must leave neither a timer nor a listener behind.
 */
import { abortReason, onAbort } from './abort.js';
import { systemClock, type Clock } from './clock.js';

/** Options for {@link delay}. */
export interface DelayOptions {
  /** Ends the wait early, rejecting with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

/**
 * Resolves after `ms` milliseconds of the clock's time, or rejects with the abort reason as soon
 * as `signal` aborts. Either way its timer and listener are gone when it settles.
 */
export function delay(ms: number, options: DelayOptions = {}): Promise<void> {
  const { signal, clock = systemClock } = options;
  if (signal?.aborted === true) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    let detach = (): void => undefined;
    const timer = clock.setTimer(
      () => {
        detach();
        resolve();
      },
      Math.max(0, ms),
    );
    if (signal !== undefined) {
      detach = onAbort(signal, () => {
        timer.cancel();
        reject(abortReason(signal));
      });
    }
  });
}
