/**
 * Why: a call that never answers holds its caller forever. TimeoutLayer puts a deadline on the
 * call: at the deadline the call's signal aborts (cooperative cancellation, for code that listens)
 * and the caller's promise rejects with TimeoutError (for code that does not). Like tower's
 * Timeout, but it pays neither a timer nor an AbortController per call: deadlines share one
 * timer through a DeadlineQueue, and the signal is created only if the inner code reads it.
 */
import { NEVER_ABORTED, abortReason, onAbort } from './abort.js';
import { systemClock, type Clock } from './clock.js';
import { type CallContext, type ContextKey, rootContext } from './context.js';
import { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { TimeoutError } from './errors.js';
import type { Handler, Service } from './layer.js';
import { LayerBase } from './stack.js';
import { MAX_TIMER_DELAY_MS, requireNumber } from './validate.js';

/** Options for {@link TimeoutLayer}. */
export interface TimeoutLayerOptions {
  /** Deadline for each call, in milliseconds, in (0, 2147483647]. */
  readonly timeoutMs: number;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

const noop = (): void => undefined;

/**
 * One call in flight: its place in the deadline queue and the context the inner handler sees.
 * The signal is created on first read.
 */
class DeadlineCall<Res> extends DeadlineEntry implements CallContext {
  settled = false;
  resolve: (value: Res) => void = noop;
  reject: (reason: unknown) => void = noop;
  #controller: AbortController | undefined = undefined;
  #detachParent: () => void = noop;
  #timedOut: TimeoutError | undefined = undefined;

  constructor(
    readonly parent: CallContext,
    readonly layer: TimeoutLayer,
  ) {
    super();
  }

  get attempt(): number {
    return this.parent.attempt;
  }

  get signal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    if (this.settled) {
      if (this.#timedOut !== undefined) controller.abort(this.#timedOut);
      return controller.signal;
    }
    const parentSignal = this.parent.signal;
    if (parentSignal.aborted) controller.abort(abortReason(parentSignal));
    else if (parentSignal !== NEVER_ABORTED) {
      this.#detachParent = onAbort(parentSignal, () => {
        controller.abort(abortReason(parentSignal));
      });
    }
    return controller.signal;
  }

  get<T>(key: ContextKey<T>): T | undefined {
    return this.parent.get(key);
  }

  with<T>(key: ContextKey<T>, value: T): CallContext {
    return this.parent.with(key, value).withSignal(this.signal);
  }

  withSignal(signal: AbortSignal): CallContext {
    return this.parent.withSignal(signal);
  }

  withAttempt(attempt: number): CallContext {
    return this.parent.withAttempt(attempt).withSignal(this.signal);
  }

  readonly fulfil = (value: Res): void => {
    if (this.settled) return;
    this.finish();
    this.resolve(value);
  };

  readonly fail = (error: unknown): void => {
    if (this.settled) return;
    this.finish();
    this.reject(error);
  };

  expire(error: TimeoutError): void {
    this.settled = true;
    this.#timedOut = error;
    this.#detachParent();
    this.#controller?.abort(error);
    this.reject(error);
  }

  private finish(): void {
    this.settled = true;
    this.layer.queue.remove(this as DeadlineCall<unknown>);
    this.#detachParent();
  }
}

/**
 * Rejects calls that take longer than `timeoutMs` with {@link TimeoutError} and aborts their
 * `ctx.signal` at the same moment. Works on any request and result type.
 *
 * @example
 * ```ts
 * const timeout = new TimeoutLayer({ timeoutMs: 2000 });
 * const rows = await timeout.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export class TimeoutLayer extends LayerBase {
  /** The configured deadline in milliseconds. */
  readonly timeoutMs: number;
  /** @internal */
  readonly queue: DeadlineQueue<DeadlineCall<unknown>>;
  readonly #clock: Clock;

  /** @throws RangeError when `timeoutMs` is not in (0, 2147483647] */
  constructor(options: TimeoutLayerOptions) {
    super();
    this.timeoutMs = requireNumber(
      'TimeoutLayer',
      'timeoutMs',
      options.timeoutMs,
      0,
      MAX_TIMER_DELAY_MS,
    );
    this.#clock = options.clock ?? systemClock;
    this.queue = new DeadlineQueue(this.#clock, (call) => {
      call.expire(new TimeoutError(this.timeoutMs));
    });
  }

  /** Number of calls currently running under a deadline. */
  get pending(): number {
    return this.queue.size;
  }

  /** Returns `next` with a deadline on every call. */
  wrap<Req, Res>(next: Handler<Req, Res>): Service<Req, Res> {
    return (req: Req, ctx: CallContext = rootContext): Promise<Res> => {
      const call = new DeadlineCall<Res>(ctx, this);
      const result = new Promise<Res>((resolve, reject) => {
        call.resolve = resolve;
        call.reject = reject;
      });
      this.queue.push(call as DeadlineCall<unknown>, this.#clock.now() + this.timeoutMs);
      try {
        next(req, call).then(call.fulfil, call.fail);
      } catch (error) {
        call.fail(error);
      }
      return result;
    };
  }
}
