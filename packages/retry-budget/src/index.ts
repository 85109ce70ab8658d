export {
  decorrelatedJitter,
  exponentialBackoff,
  fullJitter,
  type RandomSource,
} from './backoff.js';
export { isIdempotentMethod } from './idempotent-method.js';
export { parseHttpDate, parseRetryAfter, retryAfterFromHeaders } from './retry-after.js';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetSnapshot } from './retry-budget.js';
export type { RetryBudgetLike } from './retry-budget-like.js';
export {
  type BudgetExhaustedBehaviour,
  type BudgetExhaustedEvent,
  type GiveUpEvent,
  type GiveUpReason,
  type JitterKind,
  RetryLayer,
  type RetryLayerOptions,
  type RetryEvent,
} from './retry-layer.js';
export {
  type ErrorOutcome,
  errorOutcome,
  isRetryableByDefault,
  type ResultOutcome,
  resultOutcome,
  type RetryOutcome,
} from './retry-outcome.js';
export {
  TokenBucketRetryBudget,
  type TokenBucketRetryBudgetOptions,
} from './token-bucket-budget.js';
