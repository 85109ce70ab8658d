/**
 * Why: a limiter that rejects silently or loses its store silently is one nobody can operate.
 * Rejections, store errors and switches to and from the failure policy are typed events with
 * disposers, also published on `proxykit:rate-limit:<event>` for tracers and metrics; payloads
 * are built only when someone listens.
 */
import { Emitter, proxykitChannel } from '@proxykit/core';

/** Payload of `onReject`: a call the limiter refused. */
export interface RejectEvent<K = unknown> {
  /** The key the call was limited under (undefined for an unkeyed limiter). */
  readonly key: K | undefined;
  /** The cost the call asked for. */
  readonly cost: number;
  /** Time until the same cost would be admitted, in ms (> 0). */
  readonly retryAfterMs: number;
}

/** How a {@link RedisRateLimiter} decides while Redis cannot: see `RedisFailurePolicy`. */
export type FailurePolicyName = 'fail-open' | 'fail-closed' | 'fallback';

/** Payload of `onStoreError`: a decision Redis could not make (error or timeout). */
export interface StoreErrorEvent {
  /** The key of the call (without the key prefix). */
  readonly key: string;
  /** What the client reported, or core's `TimeoutError` when `timeoutMs` passed. */
  readonly error: unknown;
  /** The policy that decided the call instead. */
  readonly policy: FailurePolicyName;
}

/** Payload of `onFallbackChange`: the limiter stopped or resumed deciding with Redis. */
export interface FallbackChangeEvent {
  /** True: Redis failed and the failure policy decides from now on; false: Redis is back. */
  readonly active: boolean;
  /** The failure policy. */
  readonly policy: FailurePolicyName;
  /** The error that caused the switch (when `active` is true). */
  readonly error?: unknown;
}

/** @internal the `reject` event stream of a layer */
export function rejectEmitter<K>(): Emitter<RejectEvent<K>> {
  return new Emitter(proxykitChannel('rate-limit', 'reject'));
}

/** @internal the `store-error` event stream of a Redis limiter */
export function storeErrorEmitter(): Emitter<StoreErrorEvent> {
  return new Emitter(proxykitChannel('rate-limit', 'store-error'));
}

/** @internal the `fallback-change` event stream of a Redis limiter */
export function fallbackChangeEmitter(): Emitter<FallbackChangeEvent> {
  return new Emitter(proxykitChannel('rate-limit', 'fallback-change'));
}
