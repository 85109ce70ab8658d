/**
 * Why: the seed's egress shaper — "fixed-rate drain through a queue of capacity C, smooths output
 * to exactly R per second" — for calls to a dependency that must not see bursts (a partner API
 * with a strict rate, a database migration throttle). Calls join a bounded FIFO and leave it at
 * the drain rate; a full queue rejects at once with RateLimitedError; a caller that gives up
 * (AbortSignal) leaves the queue and frees its place and its time for the calls behind it. One
 * timer serves the whole queue, armed only while someone waits, as in nginx's `limit_req` with
 * `delay`. Used as a meter (`admit`), the leaky bucket is the same arithmetic as a token bucket
 * of capacity `queueSize` (ATM's "leaky bucket" and GCRA are one algorithm): the call is admitted
 * at once when it fits in the bucket.
 */
import {
  abortReason,
  type Clock,
  type ClockTimer,
  DeadlineEntry,
  DeadlineQueue,
  onAbort,
  RateLimitedError,
  rejectSoon,
  requireNumber,
  systemClock,
} from '@proxykit/core';
import { bookAfter, costError, MAX_RATE_OPTION, waitUntil } from './rate-limiter.js';
import { VirtualSchedulingLimiter } from './virtual-scheduling.js';

/** Options for {@link LeakyBucket}. */
export interface LeakyBucketOptions {
  /** Cost drained per second — the output rate — in (0, 1e12]; fractional rates are fine. */
  readonly drainPerSecond: number;
  /**
   * What the bucket holds: the cost that may be booked ahead of the drain, waiting or (for the
   * meter) admitted at once, in (0, 1e12]; also the largest cost of one call.
   */
  readonly queueSize: number;
  /** Time source and timers; defaults to the system clock. */
  readonly clock?: Clock;
}

/** A call waiting in the shaper's queue. */
class Waiter extends DeadlineEntry {
  constructor(
    readonly cost: number,
    readonly resolve: () => void,
    readonly reject: (reason: unknown) => void,
  ) {
    super();
  }
  detach: () => void = noop;
}

function noop(): void {
  // Nothing to detach.
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * A leaky bucket: a queue of at most `queueSize` cost drained at `drainPerSecond`.
 *
 * - `shape(cost, signal)` waits in the queue and resolves when the call may proceed: calls leave
 *   in arrival order, `cost / drainPerSecond` seconds apart (the first at once when the bucket is
 *   empty). Over any interval the cost released is at most `drainPerSecond · t / 1000` plus the
 *   cost of one call. A full queue rejects with `RateLimitedError` (retry-after: when the
 *   bucket will have drained enough); an abort rejects with the signal's reason and frees the
 *   place. No timer is left once the queue is empty.
 * - `admit(cost)` is the meter: admitted at once when the cost fits in the bucket (including what
 *   waits in the queue), which then drains it; it never waits.
 *
 * @example
 * ```ts
 * const outbound = new LeakyBucket({ drainPerSecond: 50, queueSize: 200 });
 * await outbound.shape(1, ctx.signal); // waits its turn; rejects when 200 are already waiting
 * await partnerApi.send(order);
 * ```
 */
export class LeakyBucket extends VirtualSchedulingLimiter {
  /** The configured drain rate per second. */
  readonly drainPerSecond: number;
  /** The configured bucket size. */
  readonly queueSize: number;
  readonly #queue: DeadlineQueue<Waiter>;
  #queuedCost = 0;
  #timer: ClockTimer | undefined = undefined;

  /** @throws RangeError naming the first invalid option */
  constructor(options: LeakyBucketOptions) {
    const owner = 'LeakyBucket';
    const drainPerSecond = requireNumber(
      owner,
      'drainPerSecond',
      options.drainPerSecond,
      0,
      MAX_RATE_OPTION,
    );
    const queueSize = requireNumber(owner, 'queueSize', options.queueSize, 0, MAX_RATE_OPTION);
    const interval = 1000 / drainPerSecond;
    super(owner, interval, queueSize * interval, queueSize, false, options.clock ?? systemClock);
    this.drainPerSecond = drainPerSecond;
    this.queueSize = queueSize;
    // Used as a FIFO with O(1) removal: entries carry no deadline, the bucket keeps its own timer.
    this.#queue = new DeadlineQueue<Waiter>(this.clock, noop);
  }

  /** Calls waiting in the shaper's queue. */
  get waiting(): number {
    return this.#queue.size;
  }

  /** Cost waiting in the shaper's queue. */
  get waitingCost(): number {
    return this.#queuedCost;
  }

  /**
   * A bucket with `share` of this one's drain rate and size (and the same clock): what each of
   * `1 / share` instances should enforce locally to stay within this rate together.
   *
   * @param share in (0, 1]
   */
  scaled(share: number): LeakyBucket {
    requireNumber('LeakyBucket.scaled', 'share', share, 0, 1);
    return new LeakyBucket({
      drainPerSecond: this.drainPerSecond * share,
      queueSize: this.queueSize * share,
      clock: this.clock,
    });
  }

  /**
   * The meter: admits a call of `cost` at once and returns 0 when it fits in the bucket (what is
   * booked plus what waits in the queue), or returns the ms until it would. Never waits.
   *
   * @param cost units this call uses, in (0, queueSize] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   * @throws RangeError when `cost` is out of range
   */
  override admit(cost = 1, now: number = this.readClock()): number {
    if (this.#queuedCost === 0) return super.admit(cost, now);
    if (!(cost > 0 && cost <= this.maxCost)) throw costError(this.owner, cost, this.maxCost, false);
    return this.#fits(cost, now);
  }

  /**
   * The shaper: resolves when a call of `cost` may proceed at the drain rate, in arrival order.
   * Rejects at once (without waiting) with `RateLimitedError` when the queue has no room for the
   * cost, and with the abort reason when `signal` aborts before the call's turn.
   *
   * @param cost units this call uses, in (0, queueSize] (default 1)
   * @param signal gives up the place in the queue
   */
  shape(cost = 1, signal?: AbortSignal): Promise<void> {
    if (!(cost > 0 && cost <= this.maxCost)) {
      return Promise.reject(costError(this.owner, cost, this.maxCost, false));
    }
    if (signal?.aborted === true) return Promise.reject(abortReason(signal));
    const now = this.clock.now();
    if (this.#queue.size === 0 && this.tat <= now) {
      this.tat = bookAfter(now, cost * this.interval);
      return RESOLVED;
    }
    const wait = this.#fits(cost, now, false);
    // The queue is full for this cost: reject without making the caller wait for nothing.
    if (wait > 0) return rejectSoon(new RateLimitedError(wait));
    return new Promise<void>((resolve, reject) => {
      const waiter = new Waiter(cost, resolve, reject);
      this.#queue.push(waiter, Infinity);
      this.#queuedCost += cost;
      if (signal !== undefined) {
        waiter.detach = onAbort(signal, () => {
          if (!this.#queue.remove(waiter)) return;
          this.#queuedCost = this.#queue.size === 0 ? 0 : this.#queuedCost - waiter.cost;
          if (this.#queue.size === 0) this.#disarm();
          reject(abortReason(signal));
        });
      }
      if (this.#timer === undefined) this.#arm(now);
    });
  }

  /**
   * 0 when `cost` fits in the bucket now (and, with `book`, books it); else the wait until it
   * would fit.
   */
  #fits(cost: number, now: number, book = true): number {
    const tat = this.tat > now ? this.tat : now;
    const allowAt = tat + (this.#queuedCost + cost) * this.interval - this.horizon;
    if (allowAt <= now) {
      if (book) this.tat = bookAfter(tat, cost * this.interval);
      return 0;
    }
    return waitUntil(allowAt, now);
  }

  #arm(now: number): void {
    this.#timer = this.clock.setTimer(this.#release, Math.max(0, this.tat - now));
  }

  #disarm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Releases every waiter whose turn has come, then re-arms for the next one. */
  readonly #release = (): void => {
    this.#timer = undefined;
    const now = this.clock.now();
    const queue = this.#queue;
    for (let head = queue.first; head !== undefined && this.tat <= now; head = queue.first) {
      queue.shift();
      this.#queuedCost = queue.size === 0 ? 0 : this.#queuedCost - head.cost;
      // Calls leave on the schedule, not when the timer happened to fire: a late timer releases
      // the calls that were due together instead of slowing the drain down.
      // (After reset() the schedule restarts from now.)
      this.tat = bookAfter(this.tat === -Infinity ? now : this.tat, head.cost * this.interval);
      head.detach();
      head.resolve();
    }
    if (queue.size > 0) this.#arm(now);
  };
}
