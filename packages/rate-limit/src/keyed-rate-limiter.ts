/**
 * Why: limits are per client — per IP, per user, per API token — and the key space is chosen by
 * whoever sends the requests. A map that grows with every new key is a memory leak an attacker
 * controls, and a timer per key (rate-limiter-flexible's memory store expires every key with its
 * own `setTimeout`) costs more than the state it guards. Here the key set is capped at `maxKeys`
 * with exact least-recently-used eviction (core's `KeySlots`: a hit stays at one hash
 * lookup), no key owns a timer, and a key's state is as small as the algorithm allows: for a
 * token bucket, a leaky-bucket meter and GCRA one float in a `Float64Array`, for a sliding window
 * one small array of counts, recycled from the evicted key.
 */
import { KeySlots, requireInteger } from '@proxykit/core';
import type { Gcra } from './gcra.js';
import type { LeakyBucket } from './leaky-bucket.js';
import {
  bookAfter,
  costError,
  type KeyedLimiter,
  type RateDecision,
  toDecision,
  waitUntil,
} from './rate-limiter.js';
import { clockReader } from './clock-reader.js';
import { SlidingWindow, type WindowCounter } from './sliding-window.js';
import type { TokenBucket } from './token-bucket.js';
import { VirtualSchedulingLimiter } from './virtual-scheduling.js';

/** The limiters a {@link KeyedRateLimiter} can keep per key. */
export type KeyableLimiter = TokenBucket | LeakyBucket | Gcra | SlidingWindow;

/** Options for {@link KeyedRateLimiter}. */
export interface KeyedRateLimiterOptions {
  /**
   * The limit every key gets, given as a limiter configured for one key, e.g.
   * `new TokenBucket({ capacity: 20, refillPerSecond: 10 })`. Only its configuration and clock are
   * used, not its own state. A LeakyBucket is used as a meter (no per-key queue).
   */
  readonly limiter: KeyableLimiter;
  /**
   * Most keys tracked at once, an integer in [1, 16 000 000]; default 10 000. When a new key
   * arrives at the cap, the least recently used key is forgotten: it starts afresh (full) if it
   * comes back. Size it above the number of clients active within one refill period.
   */
  readonly maxKeys?: number;
}

/**
 * One rate limit per key with a hard cap on the number of keys, least-recently-used eviction, no
 * timer at all and memory proportional to the cap.
 *
 * @example
 * ```ts
 * const perClient = new KeyedRateLimiter<string>({
 *   limiter: new TokenBucket({ capacity: 20, refillPerSecond: 10 }),
 *   maxKeys: 50_000,
 * });
 * const wait = perClient.admit(request.socket.remoteAddress ?? 'unknown');
 * if (wait > 0) reply429(Math.ceil(wait / 1000));
 * ```
 */
export class KeyedRateLimiter<K> implements KeyedLimiter<K>, Disposable {
  /** Always true: a {@link RateLimitLayer} picks a key for each call. */
  readonly keyed = true;
  /** The per-key limiter's configuration. */
  readonly limiter: KeyableLimiter;
  /** The key cap. */
  readonly maxKeys: number;
  /** The largest cost of one call (the per-key limiter's). */
  readonly maxCost: number;
  readonly #readClock: () => number;
  /** Set when keys hold one number (token bucket, leaky-bucket meter, GCRA). */
  readonly #scheduled: VirtualSchedulingLimiter | undefined;
  /** Set when keys hold a window of buckets. */
  readonly #window: SlidingWindow | undefined;
  readonly #slots: KeySlots<K>;
  /** Per slot: the theoretical arrival time (keys holding one number). */
  #tats: Float64Array = new Float64Array(0);
  /** Per slot: the window (sliding window). */
  readonly #windows: WindowCounter[] = [];
  #evictions = 0;
  #evictionsWhileLimited = 0;

  /** @throws RangeError naming the first invalid option */
  constructor(options: KeyedRateLimiterOptions) {
    const limiter = options.limiter;
    this.maxKeys = requireInteger(
      'KeyedRateLimiter',
      'maxKeys',
      options.maxKeys ?? 10_000,
      1,
      16_000_000,
    );
    if (limiter instanceof SlidingWindow) {
      this.#window = limiter;
      this.#scheduled = undefined;
    } else if (limiter instanceof VirtualSchedulingLimiter) {
      this.#scheduled = limiter;
      this.#window = undefined;
    } else {
      throw new TypeError(
        'KeyedRateLimiter: limiter must be a TokenBucket, LeakyBucket, Gcra or SlidingWindow',
      );
    }
    this.limiter = limiter;
    this.maxCost = limiter.maxCost;
    this.#readClock = clockReader(limiter.clock);
    this.#slots = new KeySlots<K>(this.maxKeys, (capacity) => {
      if (this.#scheduled === undefined) return;
      const tats = new Float64Array(capacity);
      tats.set(this.#tats);
      this.#tats = tats;
    });
  }

  /** Number of keys tracked. */
  get size(): number {
    return this.#slots.size;
  }

  /** Keys forgotten to make room for new ones since this limiter was created. */
  get evictions(): number {
    return this.#evictions;
  }

  /**
   * Of {@link KeyedRateLimiter.evictions}, the keys whose allowance had not yet recovered when
   * they were forgotten (they come back with a full one). If this grows, raise `maxKeys`.
   */
  get evictionsWhileLimited(): number {
    return this.#evictionsWhileLimited;
  }

  /**
   * Admits a call for `key` and charges `cost` when its limit allows it, returning 0; otherwise
   * charges nothing and returns the ms until it would be admitted. Allocates nothing for a known
   * key (nor for a new one, when keys hold one number).
   *
   * @param key the client, user or token the limit applies to
   * @param cost units this call uses, in (0, maxCost] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   * @throws RangeError when `cost` is out of range
   */
  admit(key: K, cost = 1, now: number = this.#readClock()): number {
    const scheduled = this.#scheduled;
    if (scheduled === undefined) return this.#admitWindow(key, cost, now);
    if (
      !(cost > 0 && cost <= scheduled.maxCost) ||
      (scheduled.integerCost && !Number.isInteger(cost))
    ) {
      throw costError(scheduled.owner, cost, scheduled.maxCost, scheduled.integerCost);
    }
    const booked = cost * scheduled.interval;
    const slots = this.#slots;
    const slot = slots.touch(key);
    if (slot < 0) {
      // A key not seen (or forgotten) is idle: it is admitted.
      const fresh = slots.insert(key);
      if (slots.evicted) this.#evicted((this.#tats[fresh] ?? 0) > now);
      this.#tats[fresh] = bookAfter(now, booked);
      return 0;
    }
    const tats = this.#tats;
    const tat = tats[slot] ?? 0;
    const allowAt = tat - (scheduled.horizon - booked);
    if (allowAt <= now) {
      tats[slot] = bookAfter(tat > now ? tat : now, booked);
      return 0;
    }
    return waitUntil(allowAt, now);
  }

  /**
   * The decision of {@link KeyedRateLimiter.admit} as a {@link RateDecision}.
   *
   * @param key the client, user or token the limit applies to
   * @param cost units this call uses, in (0, maxCost] (default 1)
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  tryAdmit(key: K, cost = 1, now: number = this.#readClock()): RateDecision {
    return toDecision(this.admit(key, cost, now));
  }

  /** True when `key` has state (it was seen and not forgotten). Does not touch its recency. */
  has(key: K): boolean {
    return this.#slots.peek(key) >= 0;
  }

  /** Forgets `key` (it starts afresh); returns whether it was tracked. */
  delete(key: K): boolean {
    return this.#slots.delete(key) >= 0;
  }

  /**
   * Forgets the keys whose limit no longer holds anything back at `now` (their state equals a
   * fresh key's), so that memory can be reused for other keys. Optional: the cap bounds memory
   * anyway. Returns how many keys were removed.
   *
   * @param now the time in ms on the limiter's clock (default: `clock.now()`)
   */
  prune(now: number = this.#readClock()): number {
    const idle: K[] = [];
    for (const [key, slot] of this.#slots.entries()) if (this.#isIdle(slot, now)) idle.push(key);
    for (const key of idle) this.#slots.delete(key);
    return idle.length;
  }

  /** Forgets every key. */
  clear(): void {
    this.#slots.clear();
  }

  /** Forgets every key (`using limiter = new KeyedRateLimiter(…)`). */
  [Symbol.dispose](): void {
    this.clear();
  }

  #isIdle(slot: number, now: number): boolean {
    const window = this.#window;
    if (window === undefined) return (this.#tats[slot] ?? 0) <= now;
    const counter = this.#windows[slot];
    return counter === undefined || window.isIdle(counter, now);
  }

  #evicted(limited: boolean): void {
    this.#evictions++;
    if (limited) this.#evictionsWhileLimited++;
  }

  #admitWindow(key: K, cost: number, now: number): number {
    const window = this.#window as SlidingWindow;
    if (!(cost > 0 && cost <= window.limit && Number.isInteger(cost))) {
      throw costError('SlidingWindow', cost, window.limit, true);
    }
    const slots = this.#slots;
    let slot = slots.touch(key);
    let counter: WindowCounter | undefined;
    if (slot >= 0) {
      counter = this.#windows[slot];
    } else {
      slot = slots.insert(key);
      counter = this.#windows[slot];
      if (counter !== undefined) {
        // A slot used before: by the evicted key, or by a key deleted or cleared since.
        if (slots.evicted) this.#evicted(!window.isIdle(counter, now));
        counter.counts.fill(0);
        counter.total = 0;
        counter.slot = 0;
        counter.head = -Infinity;
      }
    }
    if (counter === undefined) this.#windows[slot] = counter = window.newCounter();
    return window.admitCounter(counter, cost, now);
  }
}
