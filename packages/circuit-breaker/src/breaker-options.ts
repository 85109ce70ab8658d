/**
 * Why: the single breaker and the keyed breakers take the same options; they are validated once,
 * here, so a bad option fails at construction with a message that names it and its range.
 */
import {
  type Clock,
  defaultClassifier,
  isFailure,
  MAX_TIMER_DELAY_MS,
  type OutcomeClass,
  type OutcomeClassifier,
  requireInteger,
  requireNumber,
  systemClock,
} from '@proxykit/core';
import { consecutiveFailures } from './consecutive-failures.js';
import type { TripStrategyFactory } from './trip-strategy.js';

/** Options shared by {@link CircuitBreakerLayer} and {@link KeyedCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open the breaker, an integer >= 1 (default 5). Shorthand for
   * `strategy: consecutiveFailures(n)`; give one or the other.
   */
  readonly failureThreshold?: number;
  /** Time the breaker stays open before it admits a probe, in ms, in (0, 2147483647] (default 10 000). */
  readonly resetTimeoutMs?: number;
  /** Successful probes in a row that close a half-open breaker, an integer >= 1 (default 1). */
  readonly successThreshold?: number;
  /** Probe calls a half-open breaker runs at once, an integer >= 1 (default 1); others are rejected. */
  readonly halfOpenMaxProbes?: number;
  /** When to open: `consecutiveFailures(n)` (the default) or `failureRate({...})`, or your own. */
  readonly strategy?: TripStrategyFactory;
  /** A call slower than this many ms, in (0, 2147483647], counts as a failure even if it succeeded. */
  readonly slowCallThresholdMs?: number;
  /** How errors and results are classified (default: core's `defaultClassifier`). */
  readonly classifier?: OutcomeClassifier;
  /** Which outcome classes count as failures (default: core's `isFailure`: transient, upstream, timeout). */
  readonly isFailure?: (outcome: OutcomeClass) => boolean;
  /** Time source; defaults to the system clock. */
  readonly clock?: Clock;
}

/** @internal the validated, defaulted form of {@link CircuitBreakerOptions} */
export interface BreakerSettings {
  readonly resetTimeoutMs: number;
  readonly successThreshold: number;
  readonly halfOpenMaxProbes: number;
  readonly strategy: TripStrategyFactory;
  readonly slowCallThresholdMs: number | undefined;
  readonly classifier: OutcomeClassifier;
  readonly isFailure: (outcome: OutcomeClass) => boolean;
  readonly clock: Clock;
}

/** @internal validates `options` for `owner` and fills in the defaults */
export function resolveBreakerOptions(
  owner: string,
  options: CircuitBreakerOptions,
): BreakerSettings {
  if (options.failureThreshold !== undefined && options.strategy !== undefined) {
    throw new TypeError(
      `${owner}: give failureThreshold or strategy, not both (failureThreshold is shorthand for strategy: consecutiveFailures(n))`,
    );
  }
  if (options.strategy !== undefined && typeof options.strategy !== 'function') {
    throw new TypeError(
      `${owner}: strategy must be a function returning a TripStrategy, such as consecutiveFailures(5)`,
    );
  }
  const classifier = options.classifier ?? defaultClassifier;
  if (
    typeof classifier.classifyError !== 'function' ||
    typeof classifier.classifyResult !== 'function'
  ) {
    throw new TypeError(
      `${owner}: classifier must have classifyError and classifyResult functions`,
    );
  }
  const slow = options.slowCallThresholdMs;
  return {
    resetTimeoutMs: requireNumber(
      owner,
      'resetTimeoutMs',
      options.resetTimeoutMs ?? 10_000,
      0,
      MAX_TIMER_DELAY_MS,
    ),
    successThreshold: requireInteger(owner, 'successThreshold', options.successThreshold ?? 1, 1),
    halfOpenMaxProbes: requireInteger(
      owner,
      'halfOpenMaxProbes',
      options.halfOpenMaxProbes ?? 1,
      1,
    ),
    strategy:
      options.strategy ??
      consecutiveFailures(
        requireInteger(owner, 'failureThreshold', options.failureThreshold ?? 5, 1),
      ),
    slowCallThresholdMs:
      slow === undefined
        ? undefined
        : requireNumber(owner, 'slowCallThresholdMs', slow, 0, MAX_TIMER_DELAY_MS),
    classifier,
    isFailure: options.isFailure ?? isFailure,
    clock: options.clock ?? systemClock,
  };
}
