export { backoffDelay, type RandomSource } from './backoff.js';
export { ConnectionLease } from './connection-lease.js';
export type {
  AcquireTimeoutEvent,
  CreateEvent,
  DestroyEvent,
  DestroyReason,
  FactoryErrorEvent,
  QueueFullEvent,
} from './pool-events.js';
export { isPoolClosedError, PoolClosedError } from './pool-errors.js';
export type { PoolStats } from './pool-stats.js';
export type { ResourceFactory } from './resource-factory.js';
export { SocketFactory, type SocketFactoryOptions, socketFactory } from './socket-factory.js';
export {
  type AcquireOptions,
  type CloseOptions,
  UpstreamPool,
  type UpstreamPoolOptions,
} from './upstream-pool.js';
export {
  parseUpstream,
  UPSTREAM_SCHEMES,
  Upstream,
  type UpstreamInit,
  type UpstreamParseOptions,
  type UpstreamScheme,
} from './upstream.js';
