/**
 * Why: when to open a breaker is a policy, not part of the state machine. Hystrix and
 * resilience4j trip on a failure rate over a window, cockatiel and the seed on consecutive
 * failures; both sit behind this one small interface, and users can plug in their own.
 */
import type { Clock } from '@proxykit/core';

/**
 * Decides, from the outcomes recorded while the breaker is closed, when it should open.
 * One instance serves one breaker; it is reset each time the breaker closes.
 */
export interface TripStrategy {
  /** Records a call that did not fail. Reads `clock` only if it needs the time. */
  success(clock: Clock): void;
  /** Records a failed call; returns true when the breaker should open now. */
  failure(clock: Clock): boolean;
  /** Forgets everything recorded (the breaker has just closed). */
  reset(): void;
}

/** Creates a fresh {@link TripStrategy} for each breaker (keyed breakers need one per key). */
export type TripStrategyFactory = () => TripStrategy;
