// Why: one typed shape for everything the proxy can be told, shared by the library entry
// (`createProxy(config)`), the environment loader (`REVERSE_PROXY_*`, names kept from the
// original reverse-proxy design so its users can switch without rewriting configuration) and the
// CLI. Defaults live here, in one place, so the README table and the code cannot disagree.

import { BALANCER_POLICIES } from '@proxykit/load-balancer';

/** Load-balancing algorithms the proxy offers (`REVERSE_PROXY_LB`): every named policy. */
export const LB_ALGORITHMS: typeof BALANCER_POLICIES = BALANCER_POLICIES;

/** One of {@link LB_ALGORITHMS}. */
export type LbAlgorithm = (typeof LB_ALGORITHMS)[number];

/** Log levels accepted by `REVERSE_PROXY_LOG_LEVEL` (pino's names, plus `silent`). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Host and port the proxy listens on. */
export interface ListenAddress {
  /** Interface address, e.g. `127.0.0.1` or `::1`. */
  readonly host: string;
  /** TCP port; 0 asks the system for a free one. */
  readonly port: number;
}

/** The complete, validated configuration of a proxy. Every field has a default in {@link DEFAULT_PROXY_CONFIG} except `upstreams`. */
export interface ProxyConfig {
  /** Where to listen (`REVERSE_PROXY_LISTEN`, default `127.0.0.1:8000`). */
  readonly listen: ListenAddress;
  /** Upstream base URLs, `http:` or `https:` (`REVERSE_PROXY_UPSTREAMS`). Empty means "start the embedded demo upstreams" in the CLI. */
  readonly upstreams: readonly string[];
  /** Upstream TCP connect timeout in ms (`REVERSE_PROXY_CONNECT_TIMEOUT_MS`). A connect failure or timeout answers 502. */
  readonly connectTimeoutMs: number;
  /** Whole-request timeout in ms, headers of the upstream response included (`REVERSE_PROXY_REQUEST_TIMEOUT_MS`). Expiry answers 504. */
  readonly requestTimeoutMs: number;
  /** Most requests proxied at once (`REVERSE_PROXY_MAX_IN_FLIGHT`); beyond it, 503 with `Retry-After`. */
  readonly maxInFlight: number;
  /** Stream request bodies above {@link ProxyConfig.streamThresholdBytes} instead of buffering them (`REVERSE_PROXY_STREAM_LARGE_BODIES`). */
  readonly streamLargeBodies: boolean;
  /** Bodies up to this size are buffered, so they can be replayed on retry (`REVERSE_PROXY_STREAM_THRESHOLD_BYTES`). */
  readonly streamThresholdBytes: number;
  /** Active health checks on (`REVERSE_PROXY_HEALTHCHECK`). */
  readonly healthCheck: boolean;
  /** Seconds between active probes of one upstream (`REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS`). */
  readonly healthCheckIntervalSecs: number;
  /** Path the active probe requests (`REVERSE_PROXY_HEALTHCHECK_PATH`). */
  readonly healthCheckPath: string;
  /** Seconds in-flight requests get to finish after SIGTERM/SIGINT (`REVERSE_PROXY_SHUTDOWN_GRACE_SECONDS`). */
  readonly shutdownGraceSeconds: number;
  /** Per-upstream circuit breaker on (`REVERSE_PROXY_CIRCUIT_BREAKER`). */
  readonly circuitBreaker: boolean;
  /** Consecutive failures that open an upstream's breaker (`REVERSE_PROXY_CIRCUIT_BREAKER_FAILURE_THRESHOLD`). */
  readonly circuitBreakerFailureThreshold: number;
  /** How long a breaker stays open before a probe request, in ms (`REVERSE_PROXY_CIRCUIT_BREAKER_OPEN_MS`). */
  readonly circuitBreakerOpenMs: number;
  /** Attempts per request including the first (`REVERSE_PROXY_RETRY_MAX_ATTEMPTS`); 1 disables retries. */
  readonly retryMaxAttempts: number;
  /** First retry backoff in ms (`REVERSE_PROXY_RETRY_BACKOFF_BASE_MS`). */
  readonly retryBackoffBaseMs: number;
  /** Largest retry backoff in ms (`REVERSE_PROXY_RETRY_BACKOFF_MAX_MS`). */
  readonly retryBackoffMaxMs: number;
  /** Retries allowed as a percentage of recent requests (`REVERSE_PROXY_RETRY_BUDGET_PERCENT`), Envoy style. */
  readonly retryBudgetPercent: number;
  /** Load-balancing algorithm (`REVERSE_PROXY_LB`). */
  readonly lb: LbAlgorithm;
  /** Requests per second allowed per client IP (`REVERSE_PROXY_RATE_LIMIT_RPS`); 0 disables the limit. */
  readonly rateLimitRps: number;
  /** Burst allowed per client IP above the steady rate (`REVERSE_PROXY_RATE_LIMIT_BURST`); 0 means "equal to the rate". */
  readonly rateLimitBurst: number;
  /** Share the rate limit through this Redis (`REVERSE_PROXY_RATE_LIMIT_REDIS_URL`); empty for a local limiter. */
  readonly rateLimitRedisUrl: string;
  /** Trusted proxy addresses and CIDRs, IPv4 and IPv6 (`REVERSE_PROXY_TRUSTED_PROXIES`). */
  readonly trustedProxies: readonly string[];
  /** Bearer token required by `/metrics` and `/status` (`REVERSE_PROXY_METRICS_BEARER_TOKEN`); empty for none. */
  readonly metricsBearerToken: string;
  /** Add `x-proxykit-upstream` and `x-proxykit-attempts` to responses (`REVERSE_PROXY_EXPOSE_DEBUG_HEADERS`). */
  readonly exposeDebugHeaders: boolean;
  /** Log level of the pino access and event log (`REVERSE_PROXY_LOG_LEVEL`). */
  readonly logLevel: LogLevel;
  /** Processes sharing the port (`REVERSE_PROXY_WORKERS`); 1 runs in-process. */
  readonly workers: number;
}

/** Defaults for every {@link ProxyConfig} field; `upstreams` is empty (the CLI then starts demo upstreams). */
export const DEFAULT_PROXY_CONFIG: ProxyConfig = {
  listen: { host: '127.0.0.1', port: 8000 },
  upstreams: [],
  connectTimeoutMs: 1_000,
  requestTimeoutMs: 30_000,
  maxInFlight: 1_024,
  streamLargeBodies: true,
  streamThresholdBytes: 1_048_576,
  healthCheck: true,
  healthCheckIntervalSecs: 5,
  healthCheckPath: '/',
  shutdownGraceSeconds: 30,
  circuitBreaker: true,
  circuitBreakerFailureThreshold: 5,
  circuitBreakerOpenMs: 10_000,
  retryMaxAttempts: 3,
  retryBackoffBaseMs: 25,
  retryBackoffMaxMs: 1_000,
  retryBudgetPercent: 20,
  lb: 'round_robin',
  rateLimitRps: 0,
  rateLimitBurst: 0,
  rateLimitRedisUrl: '',
  trustedProxies: [],
  metricsBearerToken: '',
  exposeDebugHeaders: false,
  logLevel: 'info',
  workers: 1,
};
