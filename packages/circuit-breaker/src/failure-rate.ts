/**
 * Why: on a busy dependency a handful of consecutive failures is noise, and on a quiet one a
 * failure rate over three calls is noise too. Hystrix and resilience4j trip when the failure rate
 * over a sliding time window crosses a threshold, but only once the window has seen
 * `minimumThroughput` calls, so three calls at night cannot open the breaker.
 *
 * The window is time-bucketed: `buckets` counters of `windowMs / buckets` each, rotated lazily on
 * the next record (no timer), so memory is fixed and recording is O(1) amortised.
 */
import { type Clock, requireInteger, requireNumber } from '@proxykit/core';
import type { TripStrategy, TripStrategyFactory } from './trip-strategy.js';

/** Options for {@link failureRate}. */
export interface FailureRateOptions {
  /** Failure ratio that opens the breaker, in (0, 1]; 0.5 means half the calls failed. */
  readonly threshold: number;
  /** Length of the sliding window in ms, > 0 (default 10 000). */
  readonly windowMs?: number;
  /** Number of buckets the window is divided into, an integer in [1, 1000] (default 10). */
  readonly buckets?: number;
  /** Calls the window must hold before the rate is judged, an integer >= 1 (default 10). */
  readonly minimumThroughput?: number;
}

/** A failure-rate strategy over a bucketed sliding window; see {@link failureRate}. */
export class FailureRateWindow implements TripStrategy {
  /** Failure ratio that opens the breaker. */
  readonly threshold: number;
  /** Window length in ms. */
  readonly windowMs: number;
  /** Calls needed before the rate counts. */
  readonly minimumThroughput: number;
  readonly #bucketMs: number;
  readonly #calls: Uint32Array;
  readonly #failures: Uint32Array;
  #epoch = -Infinity;
  #totalCalls = 0;
  #totalFailures = 0;

  /** @throws RangeError naming the first invalid option */
  constructor(options: FailureRateOptions) {
    const owner = 'failureRate';
    this.threshold = requireNumber(owner, 'threshold', options.threshold, 0, 1);
    this.windowMs = requireNumber(
      owner,
      'windowMs',
      options.windowMs ?? 10_000,
      0,
      Number.MAX_SAFE_INTEGER,
    );
    const buckets = requireInteger(owner, 'buckets', options.buckets ?? 10, 1, 1000);
    this.minimumThroughput = requireInteger(
      owner,
      'minimumThroughput',
      options.minimumThroughput ?? 10,
      1,
    );
    this.#bucketMs = this.windowMs / buckets;
    this.#calls = new Uint32Array(buckets);
    this.#failures = new Uint32Array(buckets);
  }

  /** Calls recorded in the current window. */
  get calls(): number {
    return this.#totalCalls;
  }

  /** Failures recorded in the current window. */
  get failures(): number {
    return this.#totalFailures;
  }

  success(clock: Clock): void {
    const slot = this.#slot(clock.now());
    this.#calls[slot] = (this.#calls[slot] ?? 0) + 1;
    this.#totalCalls++;
  }

  failure(clock: Clock): boolean {
    const slot = this.#slot(clock.now());
    this.#calls[slot] = (this.#calls[slot] ?? 0) + 1;
    this.#failures[slot] = (this.#failures[slot] ?? 0) + 1;
    this.#totalCalls++;
    this.#totalFailures++;
    return (
      this.#totalCalls >= this.minimumThroughput &&
      this.#totalFailures >= this.threshold * this.#totalCalls
    );
  }

  reset(): void {
    this.#calls.fill(0);
    this.#failures.fill(0);
    this.#totalCalls = 0;
    this.#totalFailures = 0;
    this.#epoch = -Infinity;
  }

  /** Rotates the ring up to the bucket holding `now` and returns its index. */
  #slot(now: number): number {
    const epoch = Math.floor(now / this.#bucketMs);
    const size = this.#calls.length;
    if (epoch > this.#epoch) {
      if (epoch - this.#epoch >= size) {
        // The whole window has passed since the last record (or nothing was ever recorded).
        this.reset();
      } else {
        for (let e = this.#epoch + 1; e <= epoch; e++) {
          const slot = ((e % size) + size) % size;
          this.#totalCalls -= this.#calls[slot] ?? 0;
          this.#totalFailures -= this.#failures[slot] ?? 0;
          this.#calls[slot] = 0;
          this.#failures[slot] = 0;
        }
      }
      this.#epoch = epoch;
    }
    // A clock that stepped back (never the monotonic one) lands in the current bucket.
    return ((this.#epoch % size) + size) % size;
  }
}

/**
 * Strategy factory: open when, over the last `windowMs`, at least `minimumThroughput` calls were
 * seen and the share that failed is at least `threshold`.
 *
 * @example
 * ```ts
 * new CircuitBreakerLayer({ strategy: failureRate({ threshold: 0.5, windowMs: 10_000, minimumThroughput: 20 }) });
 * ```
 */
export function failureRate(options: FailureRateOptions): TripStrategyFactory {
  new FailureRateWindow(options); // validates the options now, at configuration time
  return () => new FailureRateWindow(options);
}
