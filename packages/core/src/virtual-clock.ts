/**
 * Why: property tests must explore thousands of timings in milliseconds of real time. A virtual
 * clock moves only when the test says so and fires due timers in deadline order, like the fake
 * timers of @sinonjs/fake-timers but confined to the components given this clock.
 */
import type { Clock, ClockTimer } from './clock.js';

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class VirtualTimer implements ClockTimer {
  active = true;
  referenced = true;

  constructor(
    readonly at: number,
    readonly seq: number,
    readonly callback: () => void,
  ) {}

  cancel(): void {
    this.active = false;
  }

  ref(): void {
    this.referenced = true;
  }

  unref(): void {
    this.referenced = false;
  }
}

/**
 * A {@link Clock} whose time advances only through {@link VirtualClock.advance}.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock();
 * const layer = new TimeoutLayer({ timeoutMs: 100, clock });
 * clock.advance(100); // fires the deadline
 * ```
 */
export class VirtualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: VirtualTimer[] = [];

  /** Starts the clock at `startMs` (default 0). */
  constructor(startMs = 0) {
    this.#now = startMs;
  }

  /** Current virtual time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Schedules `callback` at `now() + max(0, delayMs)`. */
  setTimer(callback: () => void, delayMs: number): ClockTimer {
    const timer = new VirtualTimer(this.#now + Math.max(0, delayMs), this.#seq++, callback);
    this.#timers.push(timer);
    return timer;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way in deadline order
   * (ties in creation order), with `now()` equal to each timer's deadline while it runs.
   * Timers created by callbacks fire too if they fall within the window.
   */
  advance(ms: number): void {
    if (!(ms >= 0))
      throw new RangeError(`VirtualClock.advance: ms must be >= 0, got ${String(ms)}`);
    const end = this.#now + ms;
    for (;;) {
      const due = this.#nextDue(end);
      if (due === undefined) break;
      due.active = false;
      this.#now = due.at;
      due.callback();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => t.active);
  }

  /**
   * Like {@link VirtualClock.advance}, but lets promise callbacks run after each timer fires
   * (it yields to the event loop between firings), as they would between real timers. Use it
   * when timer callbacks resolve promises whose reactions schedule or cancel other timers.
   */
  async advanceAsync(ms: number): Promise<void> {
    if (!(ms >= 0))
      throw new RangeError(`VirtualClock.advanceAsync: ms must be >= 0, got ${String(ms)}`);
    const end = this.#now + ms;
    await yieldToEventLoop();
    for (;;) {
      const due = this.#nextDue(end);
      if (due === undefined) break;
      due.active = false;
      this.#now = due.at;
      due.callback();
      await yieldToEventLoop();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => t.active);
  }

  /** Number of timers still pending (active), optionally only those that keep a process alive. */
  pendingTimers(options: { referencedOnly?: boolean } = {}): number {
    return this.#timers.filter((t) => t.active && (options.referencedOnly !== true || t.referenced))
      .length;
  }

  #nextDue(end: number): VirtualTimer | undefined {
    let best: VirtualTimer | undefined;
    for (const t of this.#timers) {
      if (!t.active || t.at > end) continue;
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
