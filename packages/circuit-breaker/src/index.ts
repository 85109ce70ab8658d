export {
  BreakerEvents,
  type CircuitState,
  type OutcomeEvent,
  type RejectEvent,
  type StateChangeEvent,
  type TransitionReason,
} from './breaker-events.js';
export type { CircuitBreakerOptions } from './breaker-options.js';
export type { BreakerPermit } from './breaker-permit.js';
export { CircuitBreakerLayer, type CircuitBreakerLayerOptions } from './circuit-breaker-layer.js';
export type { CircuitSnapshot } from './circuit.js';
export { ConsecutiveFailures, consecutiveFailures } from './consecutive-failures.js';
export { FailureRateWindow, type FailureRateOptions, failureRate } from './failure-rate.js';
export { KeyedCircuitBreaker, type KeyedCircuitBreakerOptions } from './keyed-circuit-breaker.js';
export type { TripStrategy, TripStrategyFactory } from './trip-strategy.js';
