export { type BackendSelectorOptions, BackendSelector } from './backend-selector.js';
export {
  DEFAULT_FORWARDER_CONFIG,
  ENV_DEFAULTS,
  type ForwarderConfig,
  type ForwarderOptions,
  formatHostPort,
  L4_ENV_VARIABLES,
  L4_LB_POLICIES,
  L4ConfigError,
  type L4Environment,
  type L4LbPolicy,
  type ListenAddress,
  loadForwarderConfigFromEnv,
  MAX_WARM_POOL_SIZE,
  MAX_WORKERS,
  parseHostPort,
  PROXY_PROTOCOL_MODES,
  type ProxyProtocolMode,
  resolveForwarderConfig,
} from './forwarder-config.js';
export {
  createForwarder,
  type Forwarder,
  type ForwarderAddress,
  type ForwarderStats,
  LocalForwarder,
  type LocalForwarderOptions,
} from './forwarder.js';
export {
  type MetricsInfo,
  type MetricsServer,
  type MetricsServerOptions,
  renderPrometheus,
  startMetricsServer,
} from './metrics-server.js';
export {
  type ConnectionEndpoints,
  encodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  PROXY_V2_SIGNATURE,
} from './proxy-protocol.js';
export {
  backendReadOptions,
  READ_BUFFER_BYTES,
  splice,
  type SpliceDone,
  withOwnReadBuffer,
} from './splice.js';
export { WarmPool, type WarmPoolOptions, type WarmSocket } from './warm-pool.js';
export {
  type BackendCounters,
  CONNECT_LATENCY_BUCKETS,
  type CounterSnapshot,
  mergeSnapshots,
  WorkerCounters,
} from './worker-counters.js';
export { type Distribution, nodeHasReusePort, reusePortSupported } from './workers.js';
