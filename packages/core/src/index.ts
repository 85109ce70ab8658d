export { NEVER_ABORTED, abortReason, isAbortError, onAbort, rejectSoon } from './abort.js';
export {
  type OutcomeClass,
  type OutcomeClassifier,
  classifyStatus,
  defaultClassifier,
  isFailure,
} from './classifier.js';
export { type Clock, type ClockTimer, systemClock } from './clock.js';
export {
  ConcurrencyLimitLayer,
  type ConcurrencyLimitLayerOptions,
} from './concurrency-limit-layer.js';
export {
  type CallContext,
  type ContextKey,
  type CreateContextOptions,
  createContext,
  createContextKey,
  rootContext,
} from './context.js';
export { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
export { delay, type DelayOptions } from './delay.js';
export {
  BrokenCircuitError,
  ERROR_CATEGORIES,
  type ErrorCategory,
  NoHealthyUpstreamError,
  OverloadedError,
  PROXYKIT_ERROR,
  PoolTimeoutError,
  ProxykitError,
  type ProxykitErrorOptions,
  RateLimitedError,
  RetryBudgetExhaustedError,
  TimeoutError,
  isBrokenCircuitError,
  isNoHealthyUpstreamError,
  isOverloadedError,
  isPoolTimeoutError,
  isProxykitError,
  isRateLimitedError,
  isRetryBudgetExhaustedError,
  isTimeoutError,
} from './errors.js';
export { type Disposer, Emitter, type Listener, proxykitChannel, toDisposer } from './events.js';
export { KeySlots } from './key-slots.js';
export type { Handler, Layer, Operation, Service } from './layer.js';
export { LayerBase, type LayerStack, execute, stack } from './stack.js';
export { TimeoutLayer, type TimeoutLayerOptions } from './timeout-layer.js';
export { MAX_TIMER_DELAY_MS, requireInteger, requireNumber } from './validate.js';
export { VirtualClock } from './virtual-clock.js';
