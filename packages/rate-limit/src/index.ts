export { Gcra, type GcraOptions } from './gcra.js';
export {
  type KeyableLimiter,
  KeyedRateLimiter,
  type KeyedRateLimiterOptions,
} from './keyed-rate-limiter.js';
export { LeakyBucket, type LeakyBucketOptions } from './leaky-bucket.js';
export type {
  FailurePolicyName,
  FallbackChangeEvent,
  RejectEvent,
  StoreErrorEvent,
} from './rate-limit-events.js';
export {
  type KeyedRateLimitLayerOptions,
  RateLimitLayer,
  type RateLimitLayerOptions,
  type UnkeyedRateLimitLayerOptions,
} from './rate-limit-layer.js';
export {
  ADMITTED,
  type KeyedLimiter,
  type RateDecision,
  type RateLimiter,
  toDecision,
} from './rate-limiter.js';
export {
  fromIoredis,
  type IoredisLike,
  type RedisScriptArg,
  type RedisScriptClient,
} from './redis-client.js';
export {
  type RedisFailurePolicy,
  RedisRateLimiter,
  type RedisRateLimiterOptions,
} from './redis-rate-limiter.js';
export { SlidingWindow, type SlidingWindowOptions } from './sliding-window.js';
export { TokenBucket, type TokenBucketOptions } from './token-bucket.js';
export { VirtualSchedulingLimiter } from './virtual-scheduling.js';
