/**
 * Why: the simplest useful rule, and the seed's: open after N failures in a row. One counter, no
 * clock read, which makes it the cheapest strategy for the closed-state hot path (cockatiel's
 * ConsecutiveBreaker, Hystrix's "errorThreshold" in its simplest form).
 */
import { requireInteger } from '@proxykit/core';
import type { TripStrategy, TripStrategyFactory } from './trip-strategy.js';

/** Opens the breaker after `threshold` consecutive failures; any success starts the count over. */
export class ConsecutiveFailures implements TripStrategy {
  #failures = 0;

  /** @param threshold consecutive failures that open the breaker; an integer >= 1 */
  constructor(readonly threshold: number) {
    requireInteger('ConsecutiveFailures', 'threshold', threshold, 1);
  }

  /** Failures since the last success. */
  get failures(): number {
    return this.#failures;
  }

  success(): void {
    this.#failures = 0;
  }

  failure(): boolean {
    return ++this.#failures >= this.threshold;
  }

  reset(): void {
    this.#failures = 0;
  }
}

/**
 * Strategy factory: open after `threshold` consecutive failures.
 *
 * @example
 * ```ts
 * new CircuitBreakerLayer({ strategy: consecutiveFailures(5) });
 * ```
 */
export function consecutiveFailures(threshold: number): TripStrategyFactory {
  requireInteger('consecutiveFailures', 'threshold', threshold, 1);
  return () => new ConsecutiveFailures(threshold);
}
