/**
 * Why: a pool's trouble shows in its events long before in its callers' latency: factory errors
 * (the upstream refuses), acquire timeouts (the pool is too small), destroys of dead sockets (the
 * peer closes idle connections sooner than `idleTimeoutMs`). Each is a typed event with a
 * disposer and is also published on `proxykit:upstream-pool:<event>` for tracers; payloads are
 * built only when someone listens, and the acquire/release path emits nothing.
 */
import { Emitter, proxykitChannel } from '@proxykit/core';
import type { Upstream } from './upstream.js';

/**
 * Why a resource was destroyed: `'idle-timeout'` (idle longer than `idleTimeoutMs`, above `min`),
 * `'max-lifetime'` (older than `maxLifetimeMs`), `'not-reusable'` (the factory's `recycle` or
 * `isReusable` said no), `'dead'` (the factory's `watch` reported it dead), `'destroyed'` (the
 * lease holder called `destroy()`), `'closed'` (the pool closed) or `'removed'` (its upstream was
 * removed).
 */
export type DestroyReason =
  'idle-timeout' | 'max-lifetime' | 'not-reusable' | 'dead' | 'destroyed' | 'closed' | 'removed';

/** Payload of `onCreate` and of `proxykit:upstream-pool:create`. */
export interface CreateEvent {
  /** The upstream the resource is connected to. */
  readonly upstream: Upstream;
  /** Factory attempts it took, 1 when the first succeeded. */
  readonly attempts: number;
}

/** Payload of `onDestroy` and of `proxykit:upstream-pool:destroy`. */
export interface DestroyEvent {
  /** The upstream the resource was connected to. */
  readonly upstream: Upstream;
  /** Why it was destroyed. */
  readonly reason: DestroyReason;
  /** The error reported with it (by `watch`, or passed to `lease.destroy()`), if any. */
  readonly error?: unknown;
}

/** Payload of `onFactoryError` and of `proxykit:upstream-pool:factory-error`. */
export interface FactoryErrorEvent {
  /** The upstream the factory failed to reach. */
  readonly upstream: Upstream;
  /** What the factory threw or rejected with. */
  readonly error: unknown;
  /** Which attempt of this creation failed, from 1. */
  readonly attempt: number;
  /** True when another attempt follows after a backoff. */
  readonly willRetry: boolean;
}

/** Payload of `onAcquireTimeout` and of `proxykit:upstream-pool:acquire-timeout`. */
export interface AcquireTimeoutEvent {
  /** The upstream the acquire was for. */
  readonly upstream: Upstream;
  /** The acquire timeout that passed. */
  readonly timeoutMs: number;
  /** Acquires still waiting for the upstream. */
  readonly waiting: number;
  /** The factory's latest failure for the upstream, if creating has been failing. */
  readonly lastError: unknown;
}

/** Payload of `onQueueFull` and of `proxykit:upstream-pool:queue-full`. */
export interface QueueFullEvent {
  /** The upstream the acquire was for. */
  readonly upstream: Upstream;
  /** Acquires waiting for the upstream. */
  readonly waiting: number;
  /** The configured bound. */
  readonly maxWaiters: number;
}

/** @internal the event streams of one pool */
export class PoolEvents {
  readonly create: Emitter<CreateEvent> = new Emitter(proxykitChannel('upstream-pool', 'create'));
  readonly destroy: Emitter<DestroyEvent> = new Emitter(
    proxykitChannel('upstream-pool', 'destroy'),
  );
  readonly factoryError: Emitter<FactoryErrorEvent> = new Emitter(
    proxykitChannel('upstream-pool', 'factory-error'),
  );
  readonly acquireTimeout: Emitter<AcquireTimeoutEvent> = new Emitter(
    proxykitChannel('upstream-pool', 'acquire-timeout'),
  );
  readonly queueFull: Emitter<QueueFullEvent> = new Emitter(
    proxykitChannel('upstream-pool', 'queue-full'),
  );
}
