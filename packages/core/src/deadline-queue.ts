/**
 * Why: a timeout per call usually costs one `setTimeout` and one `AbortController` per call.
 * But every call through one layer has the same timeout, so deadlines arrive in order: a FIFO
 * with a single timer armed for its head serves them all, in O(1) per call. The timeout layer,
 * the concurrency limit's queue and pool waiters share this queue. (Kafka's purgatory and
 * Netty's HashedWheelTimer make the same trade for the same reason.)
 */
import type { Clock, ClockTimer } from './clock.js';

/**
 * An item that can sit in a {@link DeadlineQueue}. Extend it; the links are intrusive so that
 * removal is O(1) and queueing allocates nothing.
 */
export abstract class DeadlineEntry {
  /** When the entry expires, in the queue's clock time; Infinity never expires. */
  deadline: number = Infinity;
  /** @internal */
  prevEntry: DeadlineEntry | undefined = undefined;
  /** @internal */
  nextEntry: DeadlineEntry | undefined = undefined;
  /** @internal */
  queued: boolean = false;
}

/**
 * A FIFO of entries ordered by deadline, with one timer for the whole queue. Entries that
 * expire are removed and passed to `onExpire`. When the queue is empty its timer no longer keeps
 * the process alive, so a quiet queue never holds a process open.
 */
export class DeadlineQueue<E extends DeadlineEntry> {
  #head: DeadlineEntry | undefined = undefined;
  #tail: DeadlineEntry | undefined = undefined;
  #size = 0;
  #timer: ClockTimer | undefined = undefined;
  #timerAt = Infinity;
  #timerReferenced = false;
  readonly #clock: Clock;
  readonly #onExpire: (entry: E) => void;

  /**
   * @param clock time source and timer factory
   * @param onExpire called, after removal, for each entry whose deadline has passed
   */
  constructor(clock: Clock, onExpire: (entry: E) => void) {
    this.#clock = clock;
    this.#onExpire = onExpire;
  }

  /** Number of entries waiting. */
  get size(): number {
    return this.#size;
  }

  /** The oldest entry, if any. */
  get first(): E | undefined {
    return this.#head as E | undefined;
  }

  /**
   * Appends `entry` with `deadline` (absolute, clock time). Deadlines normally arrive in order;
   * an earlier one is inserted in its place.
   */
  push(entry: E, deadline: number): void {
    if (entry.queued) throw new Error('DeadlineQueue.push: entry is already queued');
    entry.deadline = deadline;
    entry.queued = true;
    let after = this.#tail;
    while (after !== undefined && after.deadline > deadline) after = after.prevEntry;
    const before = after === undefined ? this.#head : after.nextEntry;
    entry.prevEntry = after;
    entry.nextEntry = before;
    if (after === undefined) this.#head = entry;
    else after.nextEntry = entry;
    if (before === undefined) this.#tail = entry;
    else before.prevEntry = entry;
    this.#size++;
    if (deadline !== Infinity) this.#ensureTimer();
  }

  /** Removes `entry` if it is queued; returns whether it was. */
  remove(entry: E): boolean {
    if (!entry.queued) return false;
    this.#unlink(entry);
    return true;
  }

  /** Removes and returns the oldest entry. */
  shift(): E | undefined {
    const head = this.#head as E | undefined;
    if (head !== undefined) this.#unlink(head);
    return head;
  }

  #unlink(entry: DeadlineEntry): void {
    const { prevEntry, nextEntry } = entry;
    if (prevEntry === undefined) this.#head = nextEntry;
    else prevEntry.nextEntry = nextEntry;
    if (nextEntry === undefined) this.#tail = prevEntry;
    else nextEntry.prevEntry = prevEntry;
    entry.prevEntry = undefined;
    entry.nextEntry = undefined;
    entry.queued = false;
    this.#size--;
    if (this.#size === 0 && this.#timerReferenced) {
      this.#timerReferenced = false;
      this.#timer?.unref();
    }
  }

  #ensureTimer(): void {
    const head = this.#head;
    if (head === undefined || head.deadline === Infinity) return;
    if (this.#timer !== undefined && this.#timerAt <= head.deadline) {
      if (!this.#timerReferenced) {
        this.#timerReferenced = true;
        this.#timer.ref();
      }
      return;
    }
    this.#timer?.cancel();
    this.#timerAt = head.deadline;
    this.#timerReferenced = true;
    this.#timer = this.#clock.setTimer(
      this.#fire,
      Math.max(0, Math.ceil(head.deadline - this.#clock.now())),
    );
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#timerReferenced = false;
    const now = this.#clock.now();
    for (let head = this.#head; head !== undefined && head.deadline <= now; head = this.#head) {
      this.#unlink(head);
      this.#onExpire(head as E);
    }
    this.#ensureTimer();
  };
}
