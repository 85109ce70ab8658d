// Entry point: re-exports only.
export { AccessLog, type AccessLogFields, accessLogFields, createLogger } from './access-log.js';
export { Backpressure, BACKPRESSURE_RETRY_AFTER_SECONDS } from './backpressure.js';
export {
  type ClientRateLimit,
  createClientRateLimit,
  MAX_RATE_LIMITED_CLIENTS,
  retryAfterSeconds,
} from './client-rate-limit.js';
export { ConfigError } from './config-error.js';
export {
  DEMO_FAIL_VARIABLE,
  DEMO_UPSTREAM_COUNT,
  demoFailingFromEnv,
  type DemoUpstreams,
  type DemoUpstreamsOptions,
  startDemoUpstreams,
} from './demo-upstreams.js';
export { ENDPOINT_PATHS, EndpointHandler, type EndpointOptions } from './endpoints.js';
export {
  closestVariable,
  configFromEnv,
  type ConfigFromEnvOptions,
  PROXY_ENV_VARIABLES,
  type ProxyEnvVariable,
  resolveProxyConfig,
} from './env-config.js';
export {
  forwardingHeaders,
  type ForwardingInput,
  type ForwardingResult,
} from './forwarded-headers.js';
export { ConnectionTracker, type DrainResult } from './graceful-drain.js';
export { type HeaderInput, HOP_BY_HOP_HEADERS, stripHopByHop } from './hop-by-hop.js';
export { createIngressServer, type IngressHandlers, reportLocalAnswer } from './ingress.js';
export { isAuthorized, UNAUTHORIZED_HEADERS } from './metrics-auth.js';
export {
  DEFAULT_MAX_PATH_LABELS,
  MAX_PATH_LABEL_LENGTH,
  MIN_HEX_ID_LENGTH,
  normalizePath,
  OTHER_PATH_LABEL,
  PathLabeler,
  type PathLabelerOptions,
} from './path-labeler.js';
export {
  DEFAULT_PROXY_CONFIG,
  LB_ALGORITHMS,
  type LbAlgorithm,
  type ListenAddress,
  LOG_LEVELS,
  type LogLevel,
  type ProxyConfig,
} from './proxy-config.js';
export {
  KNOWN_METHODS,
  LATENCY_BUCKETS_SECONDS,
  methodLabel,
  OTHER_METHOD,
  ProxyMetrics,
  type ProxyMetricsOptions,
  statusClass,
} from './proxy-metrics.js';
export {
  type BreakerStateLabel,
  combineObservers,
  type DemoControl,
  type DemoUpstreamState,
  type FinishedRequest,
  type ProxyObserver,
  type ProxyStatusSource,
  type UpstreamAttempt,
  type UpstreamStatus,
} from './proxy-observer.js';
export { RetryPolicy, type RetryVerdict, wasNeverSent } from './proxy-retry.js';
export { createProxy, type Proxy, type ProxyAddress, type ProxyOptions } from './proxy.js';
export {
  type BufferedRequestBody,
  EMPTY_BODY,
  type EmptyRequestBody,
  hasRequestBody,
  readRequestBody,
  type RequestBody,
  type RequestBodyLimits,
  type StreamedRequestBody,
  type TooLargeRequestBody,
} from './request-body.js';
export { rewriteHost, upstreamRequestHeaders } from './request-modifier.js';
export {
  type RequestSpan,
  type RequestSpanInput,
  type RequestSpanResult,
  startRequestSpan,
  TRACER_NAME,
} from './request-span.js';
export { pathOf } from './request-target.js';
export {
  clientErrorResponse,
  INGRESS_SERVER_OPTIONS,
  MAX_HEADER_COUNT,
  MAX_HEADER_SIZE,
  MAX_URI_LENGTH,
  type RequestHeadRejection,
  validateRequestHead,
} from './request-validation.js';
export {
  ATTEMPTS_DEBUG_HEADER,
  clientResponseHeaders,
  sendProxyError,
  UPSTREAM_DEBUG_HEADER,
} from './response-modifier.js';
export {
  type DemoReport,
  type DemoUpstreamReport,
  LATENCY_BOUNDS_SECONDS,
  LATENCY_BUCKET_RATIO,
  LATENCY_FIRST_BOUND_SECONDS,
  latencyBucket,
  type ProxyReport,
  RollingWindow,
  StatusBoard,
  type StatusBoardOptions,
  type StatusReport,
  type UpstreamReport,
  type WindowStats,
} from './status-board.js';
export {
  escapeHtml,
  jsonForScript,
  renderStatusPage,
  STATUS_PAGE_HEADERS,
  type StatusPageOptions,
} from './status-page.js';
export {
  formatTraceparent,
  type NextTraceparent,
  nextTraceparent,
  parseTraceparent,
  randomSpanId,
  randomTraceId,
  TRACE_FLAG_SAMPLED,
  type TraceContext,
  TRACEPARENT_LENGTH,
} from './trace-context.js';
export { type ParsedIp, parseIp, TrustedProxies } from './trusted-proxies.js';
export { proxyUpgrade, type UpgradeOutcome, type UpgradeRequest } from './upgrade-tunnel.js';
export {
  type AttemptSink,
  CLIENT_ABORTED,
  createUpstreamPool,
  gatewayStatusFor,
  UpstreamCall,
} from './upstream-client.js';
export { parseUpstreamUrl, UpstreamSelector, type UpstreamTarget } from './upstream-selector.js';
export {
  MAX_RESTARTS,
  RESTART_WINDOW_MS,
  RestartBudget,
  type RunOptions,
  runPrimary,
  runSingle,
  runWorker,
  WORKER_ENV,
  type WorkerInit,
  workerInit,
  type WorkerMessage,
} from './workers.js';
