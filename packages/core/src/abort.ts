/**
 * Why: every wait in proxykit (backoff, queue, pool acquire, timeout) must be abortable and must
 * leave no listener or timer behind. These helpers are the one place that knows how, including
 * the shared "never aborts" signal that lets callers without a signal pay nothing.
 */

/**
 * A signal that never aborts, used when the caller supplies none. Helpers here never attach
 * listeners to it, so any number of waits can share it without a listener leak warning.
 */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

const noop = (): void => undefined;

/**
 * Calls `listener` once when `signal` aborts and returns a function that detaches it.
 * Costs nothing for {@link NEVER_ABORTED}. The caller checks `signal.aborted` first.
 */
export function onAbort(signal: AbortSignal, listener: () => void): () => void {
  if (signal === NEVER_ABORTED) return noop;
  signal.addEventListener('abort', listener, { once: true });
  return () => {
    signal.removeEventListener('abort', listener);
  };
}

/** The error a call rejects with when `signal` aborted: the signal's reason, as the platform does. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** True for the errors the platform and proxykit use to report a caller's abort. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/**
 * Returns a promise that rejects with `error` one microtask from now, after the caller has had
 * the chance to attach its handlers (`await`, `.catch`). Node tracks every promise that is
 * rejected with no handler attached, in case it stays unhandled; letting the handler come first
 * skips that bookkeeping, which is most of the cost of a fast rejection (an open breaker, a full
 * queue). An unhandled rejection is still reported as one.
 */
export function rejectSoon(error: unknown): Promise<never> {
  return new Promise<never>((_resolve, reject) => {
    queueMicrotask(() => {
      reject(error);
    });
  });
}
