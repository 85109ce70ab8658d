/**
 * Why: a dependency that slows down collects callers until memory or sockets run out. A
 * concurrency limit (tower's ConcurrencyLimit, cockatiel's bulkhead, the seed's `max_in_flight`
 * semaphore) admits at most `maxConcurrent` calls, parks up to `maxQueued` more in a FIFO whose
 * waits are abortable and bounded in time, and rejects the rest at once with OverloadedError.
 */
import { abortReason, onAbort, rejectSoon } from './abort.js';
import { systemClock, type Clock } from './clock.js';
import { type CallContext, rootContext } from './context.js';
import { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { OverloadedError } from './errors.js';
import type { Handler, Service } from './layer.js';
import { LayerBase } from './stack.js';
import { MAX_TIMER_DELAY_MS, requireInteger, requireNumber } from './validate.js';

/** Options for {@link ConcurrencyLimitLayer}. */
export interface ConcurrencyLimitLayerOptions {
  /** Calls allowed to run at once; an integer >= 1. */
  readonly maxConcurrent: number;
  /** Calls allowed to wait for a slot; an integer >= 0 (default 0: reject at once when full). */
  readonly maxQueued?: number;
  /** Longest wait in the queue in ms, in (0, 2147483647] or Infinity (the default). */
  readonly queueTimeoutMs?: number;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

const noop = (): void => undefined;

class Waiter extends DeadlineEntry {
  detach: () => void = noop;

  constructor(
    readonly admit: () => void,
    readonly refuse: (reason: unknown) => void,
  ) {
    super();
  }
}

/**
 * Admits at most `maxConcurrent` calls at a time; queues up to `maxQueued` more (FIFO,
 * abortable through `ctx.signal`, bounded by `queueTimeoutMs`); rejects the rest with
 * {@link OverloadedError}.
 *
 * @example
 * ```ts
 * const limit = new ConcurrencyLimitLayer({ maxConcurrent: 10, maxQueued: 100, queueTimeoutMs: 500 });
 * const query = limit.wrap((sql: string) => pool.query(sql));
 * ```
 */
export class ConcurrencyLimitLayer extends LayerBase {
  /** The configured concurrency. */
  readonly maxConcurrent: number;
  /** The configured queue bound. */
  readonly maxQueued: number;
  /** The configured longest queue wait in ms. */
  readonly queueTimeoutMs: number;
  #inFlight = 0;
  readonly #clock: Clock;
  readonly #queue: DeadlineQueue<Waiter>;

  /** @throws RangeError naming the first invalid option */
  constructor(options: ConcurrencyLimitLayerOptions) {
    super();
    const owner = 'ConcurrencyLimitLayer';
    this.maxConcurrent = requireInteger(owner, 'maxConcurrent', options.maxConcurrent, 1);
    this.maxQueued = requireInteger(owner, 'maxQueued', options.maxQueued ?? 0, 0);
    const timeout = options.queueTimeoutMs ?? Infinity;
    this.queueTimeoutMs =
      timeout === Infinity
        ? timeout
        : requireNumber(owner, 'queueTimeoutMs', timeout, 0, MAX_TIMER_DELAY_MS);
    this.#clock = options.clock ?? systemClock;
    this.#queue = new DeadlineQueue(this.#clock, (waiter) => {
      waiter.detach();
      waiter.refuse(
        new OverloadedError(`waited ${String(this.queueTimeoutMs)} ms for a concurrency slot`),
      );
    });
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Calls waiting for a slot now. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Returns `next` behind the limit. */
  wrap<Req, Res>(next: Handler<Req, Res>): Service<Req, Res> {
    return (req: Req, ctx: CallContext = rootContext): Promise<Res> => {
      if (this.#inFlight < this.maxConcurrent) {
        this.#inFlight++;
        return this.#run(next, req, ctx);
      }
      return this.#wait(ctx.signal).then(() => this.#run(next, req, ctx));
    };
  }

  #run<Req, Res>(next: Handler<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
    let pending: Promise<Res>;
    try {
      pending = next(req, ctx);
    } catch (error) {
      this.#release();
      return Promise.reject(error);
    }
    // Release on a side branch and hand the caller the inner promise itself: the caller's
    // continuation then waits one promise hop, as if the limit were not there. Reactions run in
    // registration order, so the slot is free before the caller resumes.
    pending.then(this.#releaseSlot, this.#releaseSlot);
    return pending;
  }

  readonly #releaseSlot = (): void => {
    this.#release();
  };

  #release(): void {
    const waiter = this.#queue.shift();
    if (waiter === undefined) {
      this.#inFlight--;
      return;
    }
    // The slot passes straight to the oldest waiter: inFlight stays the same.
    waiter.detach();
    waiter.admit();
  }

  #wait(signal: AbortSignal): Promise<void> {
    if (this.#queue.size >= this.maxQueued) {
      return rejectSoon(
        new OverloadedError(
          `concurrency limit ${String(this.maxConcurrent)} reached and queue full (${String(this.maxQueued)})`,
        ),
      );
    }
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter = new Waiter(resolve, reject);
      waiter.detach = onAbort(signal, () => {
        if (this.#queue.remove(waiter)) reject(abortReason(signal));
      });
      this.#queue.push(waiter, this.#clock.now() + this.queueTimeoutMs);
    });
  }
}
