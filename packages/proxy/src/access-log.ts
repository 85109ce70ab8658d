/**
 * Why: every request the proxy answers gets one structured line, like nginx's and Envoy's access
 * logs, but as JSON through pino so a log pipeline needs no parsing rules: method, path (without
 * the query, which may hold secrets), status, duration, the upstream that answered, the number of
 * attempts, the client address after the trusted-proxy policy and the W3C trace id that the
 * upstream also received. Answers with a 5xx status or cut short are logged at `warn`, so
 * `REVERSE_PROXY_LOG_LEVEL=warn` keeps just the failures. Failed attempts and retry-budget
 * refusals are logged at `debug`.
 */
import { type Logger, pino } from 'pino';
import type { LogLevel } from './proxy-config.js';
import type { FinishedRequest, ProxyObserver, UpstreamAttempt } from './proxy-observer.js';

/**
 * The proxy's pino logger: JSON lines on stdout with ISO timestamps, at `level` (`silent` logs
 * nothing). Lines are written asynchronously: those logged while a write is under way leave
 * together in the next one, so under load the access log costs a fraction of a system call per
 * request instead of one each (pino's default stdout destination writes every line at once).
 * Nothing waits for a full buffer, so a quiet proxy's lines appear at once, and pino writes what
 * is pending when the process exits.
 */
export function createLogger(level: LogLevel): Logger {
  return pino(
    {
      level,
      base: { name: 'proxykit-proxy' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ dest: 1, sync: false }),
  );
}

/** One access-log line, as the fields appear in the JSON. */
export interface AccessLogFields {
  /** Request method. */
  readonly method: string;
  /** Request path without the query. */
  readonly path: string;
  /** Status sent to the client (499 when the client went away before the answer). */
  readonly status: number;
  /** Time from arrival to the end of the response, in milliseconds (3 decimals). */
  readonly durationMs: number;
  /** Upstream that produced the response; absent for answers of the proxy itself. */
  readonly upstream?: string;
  /** Upstream attempts made. */
  readonly attempts: number;
  /** Client address after the trusted-proxy policy. */
  readonly clientIp: string;
  /** W3C trace id; absent when the request had none (answers of the proxy's own endpoints). */
  readonly traceId?: string;
  /** Response body bytes sent. */
  readonly bytesSent: number;
  /** Present (true) when the response was cut short. */
  readonly truncated?: true;
}

/** The fields of the access-log line of `request`. */
export function accessLogFields(request: FinishedRequest): AccessLogFields {
  return {
    method: request.method,
    path: request.path,
    status: request.status,
    durationMs: Math.round(request.durationSeconds * 1e6) / 1e3,
    ...(request.upstream === undefined ? {} : { upstream: request.upstream }),
    attempts: request.attempts,
    clientIp: request.clientIp,
    ...(request.traceId === '' ? {} : { traceId: request.traceId }),
    bytesSent: request.bytesSent,
    ...(request.truncated ? { truncated: true as const } : {}),
  };
}

/** Writes the access log: a {@link ProxyObserver} that logs one line per answered request. */
export class AccessLog implements ProxyObserver {
  readonly #logger: Logger;

  /** Logs through `logger` (see {@link createLogger}). */
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** {@inheritDoc ProxyObserver.requestStarted} */
  requestStarted(): void {
    // The line is written when the request finishes.
  }

  /** {@inheritDoc ProxyObserver.requestFinished} */
  requestFinished(request: FinishedRequest): void {
    const logger = this.#logger;
    if (request.status >= 500 || request.truncated) {
      if (logger.isLevelEnabled('warn')) logger.warn(accessLogFields(request), 'request');
    } else if (logger.isLevelEnabled('info')) {
      logger.info(accessLogFields(request), 'request');
    }
  }

  /** {@inheritDoc ProxyObserver.upstreamAttempt} */
  upstreamAttempt(attempt: UpstreamAttempt): void {
    if (!attempt.failed || !this.#logger.isLevelEnabled('debug')) return;
    this.#logger.debug(
      {
        upstream: attempt.upstream,
        status: attempt.status,
        durationMs: Math.round(attempt.durationSeconds * 1e6) / 1e3,
      },
      'upstream attempt failed',
    );
  }

  /** {@inheritDoc ProxyObserver.retried} */
  retried(upstream: string): void {
    if (this.#logger.isLevelEnabled('debug')) this.#logger.debug({ upstream }, 'retrying');
  }

  /** {@inheritDoc ProxyObserver.retryBudgetExhausted} */
  retryBudgetExhausted(): void {
    if (this.#logger.isLevelEnabled('debug')) {
      this.#logger.debug('retry refused: retry budget exhausted');
    }
  }

  /** {@inheritDoc ProxyObserver.rateLimited} */
  rateLimited(): void {
    // The request's own line shows the 429.
  }

  /** {@inheritDoc ProxyObserver.backpressureRejected} */
  backpressureRejected(): void {
    // The request's own line shows the 503.
  }
}
