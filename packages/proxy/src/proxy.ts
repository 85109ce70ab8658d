// Why: `createProxy`, the reverse proxy of the original design assembled from proxykit's layers.
// A request flows through the stages the design names, each a module of its own:
//
//   ingress (ingress.ts: server options, head validation, endpoints, backpressure, rate limit)
//   → routing (upstream-selector.ts: load balancer over health checks and breakers)
//   → request modifiers (request-modifier.ts: hop-by-hop, Host, X-Forwarded-*, traceparent)
//   → upstream client (upstream-client.ts: undici pools; request-body.ts; proxy-retry.ts)
//   → response modifiers (response-modifier.ts: hop-by-hop, debug headers, error answers)
//   → telemetry (ProxyObserver: metrics, status board, access log)
//
// This file holds the per-request exchange that walks those stages, and the proxy's lifecycle.

import { once } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { BreakerPermit } from '@proxykit/circuit-breaker';
import { defaultClassifier } from '@proxykit/core';
import type { Logger } from 'pino';
import type { Dispatcher, Pool } from 'undici';
import { AccessLog, createLogger } from './access-log.js';
import { Backpressure, BACKPRESSURE_RETRY_AFTER_SECONDS } from './backpressure.js';
import {
  type ClientRateLimit,
  createClientRateLimit,
  retryAfterSeconds,
} from './client-rate-limit.js';
import { resolveProxyConfig } from './env-config.js';
import { forwardingHeaders, type ForwardingResult } from './forwarded-headers.js';
import { ConnectionTracker } from './graceful-drain.js';
import {
  answerAndClose,
  createIngressServer,
  type IngressHandlers,
  reportLocalAnswer,
  whenQueuedResponseIsLost,
} from './ingress.js';
import { EndpointHandler } from './endpoints.js';
import type { ProxyConfig } from './proxy-config.js';
import { ProxyMetrics } from './proxy-metrics.js';
import {
  combineObservers,
  type DemoControl,
  type FinishedRequest,
  type ProxyObserver,
  type ProxyStatusSource,
  type UpstreamAttempt,
  type UpstreamStatus,
} from './proxy-observer.js';
import { RetryPolicy, wasNeverSent } from './proxy-retry.js';
import { EMPTY_BODY, hasRequestBody, readRequestBody, type RequestBody } from './request-body.js';
import { rewriteHost, upstreamRequestHeaders } from './request-modifier.js';
import { clientResponseHeaders, sendProxyError } from './response-modifier.js';
import { type RequestSpan, startRequestSpan } from './request-span.js';
import { StatusBoard } from './status-board.js';
import { nextTraceparent, parseTraceparent } from './trace-context.js';
import { TrustedProxies } from './trusted-proxies.js';
import { proxyUpgrade } from './upgrade-tunnel.js';
import {
  type AttemptSink,
  CLIENT_ABORTED,
  createUpstreamPool,
  gatewayStatusFor,
  UpstreamCall,
} from './upstream-client.js';
import { parseUpstreamUrl, UpstreamSelector, type UpstreamTarget } from './upstream-selector.js';

/** Options of {@link createProxy}: any {@link ProxyConfig} field (defaults apply), plus these. */
export interface ProxyOptions extends Partial<Omit<ProxyConfig, 'upstreams'>> {
  /** Upstream base URLs, `http:` or `https:`; at least one. */
  readonly upstreams: readonly string[];
  /** Extra observers of every request (tests, custom telemetry). */
  readonly observers?: readonly ProxyObserver[];
  /** Logger for the access log and events; default `createLogger(config.logLevel)`. */
  readonly logger?: Logger;
  /** The embedded demo upstreams' switch, shown on the status page (set by the CLI in demo mode). */
  readonly demo?: DemoControl;
}

/** Where a proxy listens. */
export interface ProxyAddress {
  /** Interface address. */
  readonly host: string;
  /** TCP port (the one the system chose when configured with 0). */
  readonly port: number;
  /** `http://host:port` (IPv6 hosts in brackets). */
  readonly url: string;
}

/** A reverse proxy made by {@link createProxy}. */
export interface Proxy extends AsyncDisposable {
  /** Binds `config.listen` (port 0 allowed) and starts health checks. */
  listen(): Promise<ProxyAddress>;
  /**
   * The ingress server. Requests read on the lean path (plain body-less HTTP/1.1 requests) reach
   * its 'request' listeners as a `LeanRequest` and `LeanResponse`, which offer only the part of
   * `IncomingMessage` and `ServerResponse` the proxy uses; every other request is Node's own.
   */
  readonly server: Server;
  /** Live state: ready, draining, the upstreams, the demo switch. */
  readonly status: ProxyStatusSource;
  /** The resolved configuration. */
  readonly config: ProxyConfig;
  /**
   * Graceful drain: readiness fails, the listener closes, idle keep-alive connections close,
   * in-flight requests get `shutdownGraceSeconds` to finish (with `Connection: close`), the rest
   * are destroyed; then upstream connections, probes and the rate limiter's Redis are closed.
   */
  shutdown(): Promise<void>;
  /** Immediate stop: destroys every connection and stops every timer. */
  close(): Promise<void>;
}

/** The state every request of one proxy shares. */
class ProxyRuntime implements ProxyStatusSource {
  readonly config: ProxyConfig;
  readonly selector: UpstreamSelector;
  readonly pools: Map<UpstreamTarget, Pool>;
  readonly retry: RetryPolicy;
  readonly backpressure: Backpressure;
  readonly rateLimit: ClientRateLimit | undefined;
  readonly trusted: TrustedProxies;
  readonly observer: ProxyObserver;
  readonly metrics: ProxyMetrics;
  readonly board: StatusBoard;
  readonly demo: DemoControl | undefined;
  readonly logger: Logger;
  readonly debugHeaders: boolean;
  readonly bodyLimits: { readonly thresholdBytes: number; readonly streamLarge: boolean };
  draining = false;
  readonly #handedOver = new Set<Duplex>();
  #clientsClosed: Promise<void> | undefined = undefined;

  constructor(options: ProxyOptions) {
    const { observers = [], logger, demo, ...rest } = options;
    const config = resolveProxyConfig(rest);
    if (config.upstreams.length === 0) {
      throw new RangeError('upstreams: at least one upstream URL is required');
    }
    this.config = config;
    const targets = config.upstreams.map(parseUpstreamUrl);
    this.selector = new UpstreamSelector(config, targets);
    this.pools = new Map(targets.map((target) => [target, createUpstreamPool(target, config)]));
    this.retry = new RetryPolicy(config);
    this.backpressure = new Backpressure(config.maxInFlight);
    this.rateLimit = createClientRateLimit(config);
    this.trusted = TrustedProxies.parse(config.trustedProxies);
    this.demo = demo;
    this.logger = logger ?? createLogger(config.logLevel);
    this.metrics = new ProxyMetrics({ status: this });
    this.board = new StatusBoard({ status: this });
    this.observer = combineObservers([
      this.metrics,
      this.board,
      new AccessLog(this.logger),
      ...observers,
    ]);
    this.debugHeaders = config.exposeDebugHeaders;
    this.bodyLimits = {
      thresholdBytes: config.streamThresholdBytes,
      streamLarge: config.streamLargeBodies,
    };
  }

  get ready(): boolean {
    return !this.draining && this.selector.firstRoundDone;
  }

  get inFlight(): number {
    return this.backpressure.inFlight;
  }

  upstreams(): readonly UpstreamStatus[] {
    return this.selector.statuses();
  }

  /** Stops probes and closes upstream connections and the rate limiter (once). */
  closeClients(): Promise<void> {
    this.#clientsClosed ??= Promise.all([
      this.selector.close(),
      this.rateLimit?.close(),
      ...[...this.pools.values()].map((pool) => pool.destroy()),
    ]).then(() => undefined);
    return this.#clientsClosed;
  }

  /**
   * Follows a client socket the HTTP server handed over (an Upgrade tunnel, or a refused Upgrade or
   * CONNECT being answered) until it closes.
   */
  adopt(socket: Duplex): void {
    this.#handedOver.add(socket);
    socket.once('close', () => this.#handedOver.delete(socket));
  }

  /** Destroys every handed-over client socket (the HTTP server no longer owns them). */
  destroyHandedOver(): void {
    for (const socket of this.#handedOver) socket.destroy();
    this.#handedOver.clear();
  }
}

/** 499 (nginx's "client closed request"): what the telemetry records for an abandoned request. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * One proxied request, from admission to the last byte: the routing, upstream-client and
 * response-modifier stages, retries between attempts, and the telemetry at the end.
 */
class ProxyExchange implements AttemptSink {
  readonly #runtime: ProxyRuntime;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #path: string;
  readonly #startedAt: number;
  readonly #deadline: number;
  readonly #clientIp: string;
  readonly #span: RequestSpan;
  readonly #headers: Record<string, string | string[]>;
  #body: RequestBody = EMPTY_BODY;
  #call: UpstreamCall | undefined = undefined;
  #tried: UpstreamTarget[] | undefined = undefined;
  #attempts = 0;
  #breakerSkips = 0;
  #previousBackoffMs = 0;
  #retryTimer: NodeJS.Timeout | undefined = undefined;
  #lastFailureStatus = 0;
  #upstream: string | undefined = undefined;
  #bytesSent = 0;
  #responding = false;
  #finished = false;
  #onDrain: (() => void) | undefined = undefined;

  constructor(
    runtime: ProxyRuntime,
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    startedAt: number,
    forwarding: ForwardingResult,
  ) {
    this.#runtime = runtime;
    this.#req = req;
    this.#res = res;
    this.#path = path;
    this.#startedAt = startedAt;
    this.#deadline = startedAt + runtime.config.requestTimeoutMs;
    this.#clientIp = forwarding.clientIp;
    const traceparent = req.headers.traceparent;
    const forwarded = forwarding.headers;
    const userAgent = req.headers['user-agent'];
    const host = req.headers.host;
    const parent = parseTraceparent(typeof traceparent === 'string' ? traceparent : undefined);
    this.#span = startRequestSpan({
      method: req.method ?? 'GET',
      path,
      parent,
      clientIp: forwarding.clientIp,
      scheme: forwarded['x-forwarded-proto'],
      host,
      userAgent,
    });
    // Request modifiers: hop-by-hop first, then our own headers.
    this.#headers = upstreamRequestHeaders(
      req.headers,
      forwarded,
      this.#span.traceparent,
      parent !== undefined,
    );
    res.on('close', this.#onClose);
    whenQueuedResponseIsLost(req, res, this.#onClose);
  }

  /** Reads (or prepares to stream) the body, then routes the first attempt. */
  start(): void {
    this.#runtime.retry.requestStarted();
    if (!hasRequestBody(this.#req)) {
      this.#route();
      return;
    }
    readRequestBody(this.#req, this.#runtime.bodyLimits).then(
      (body) => {
        if (this.#finished) return;
        if (body.kind === 'too-large') {
          this.#respondError(413);
          return;
        }
        this.#body = body;
        this.#route();
      },
      () => {
        // The client went away or sent a broken body: nothing to forward.
        if (!this.#finished) this.#respondError(400, { connection: 'close' });
      },
    );
  }

  // ---- routing --------------------------------------------------------------------------------

  #route(): void {
    const runtime = this.#runtime;
    const selector = runtime.selector;
    const entry = selector.pick(this.#clientIp, this.#tried, this.#tried?.length ?? 0);
    if (entry === undefined) {
      this.#respondError(this.#lastFailureStatus === 0 ? 503 : this.#lastFailureStatus);
      return;
    }
    const target = entry.upstream;
    (this.#tried ??= []).push(target);
    let permit: BreakerPermit | undefined;
    const breakers = selector.breakers;
    if (breakers !== undefined) {
      permit = breakers.tryAcquire(target.name);
      if (permit === undefined) {
        // The breaker refused after the pick (a half-open probe slot was taken): the request
        // never left, so it may go elsewhere whatever its method.
        if (++this.#breakerSkips > selector.targets.length) this.#respondError(503);
        else this.#route();
        return;
      }
    }
    this.#attempts++;
    rewriteHost(this.#headers, target.hostHeader);
    const now = performance.now();
    const call = new UpstreamCall(this, entry, selector.begin(entry), now, permit);
    this.#call = call;
    const pool = runtime.pools.get(target);
    if (pool === undefined) throw new Error('upstream without a pool');
    call.dispatch(pool, this.#dispatchOptions(target, now));
  }

  #dispatchOptions(target: UpstreamTarget, now: number): Dispatcher.DispatchOptions {
    const req = this.#req;
    const body = this.#body;
    return {
      path: target.basePath === '' ? (req.url ?? '/') : target.basePath + (req.url ?? '/'),
      method: req.method ?? 'GET',
      headers: this.#headers,
      body: body.kind === 'buffered' || body.kind === 'streamed' ? body.body : null,
      headersTimeout: Math.max(1, Math.ceil(this.#deadline - now)),
      bodyTimeout: this.#runtime.config.requestTimeoutMs,
    };
  }

  // ---- upstream client events -------------------------------------------------------------------

  attemptHeaders(call: UpstreamCall, statusCode: number, headers: IncomingHttpHeaders): void {
    if (call !== this.#call || this.#finished) {
      call.abort(CLIENT_ABORTED);
      return;
    }
    this.#reportAttempt(call, statusCode, undefined);
    if (statusCode >= 502 && statusCode <= 504 && this.#mayRetry(call, false)) {
      // Read and drop this answer (keeping the connection), then try again elsewhere.
      this.#lastFailureStatus = statusCode;
      call.discard = true;
      return;
    }
    // Response modifiers, then the headers go to the client at once.
    const res = this.#res;
    const target = call.target;
    this.#upstream = target.name;
    const debug = this.#runtime.debugHeaders
      ? { upstream: target.name, attempts: this.#attempts }
      : undefined;
    try {
      res.writeHead(statusCode, clientResponseHeaders(headers, debug));
    } catch {
      // The upstream sent something Node refuses to forward (an invalid header value).
      call.abort(CLIENT_ABORTED);
      this.#respondError(502);
      return;
    }
    // Nothing is written yet: Node sends the head with the first body write, and corks the socket
    // for the rest of that tick, so a small response whose body and end arrived with its headers
    // (one read from the upstream) leaves in one write.
    this.#responding = true;
  }

  attemptData(call: UpstreamCall, chunk: Buffer): void {
    if (call !== this.#call || !this.#responding) return;
    this.#bytesSent += chunk.length;
    if (!this.#res.write(chunk)) {
      call.pause();
      this.#res.once('drain', (this.#onDrain ??= () => this.#call?.resume()));
    }
  }

  attemptEnd(call: UpstreamCall): void {
    this.#endCall(call);
    if (call !== this.#call || this.#finished) return;
    if (call.discard) {
      this.#retryLater();
      return;
    }
    this.#res.end();
    // #finish runs from the response's close event once the last byte is handed to the socket.
  }

  attemptError(call: UpstreamCall, error: Error): void {
    this.#endCall(call);
    if (!call.answered) this.#reportAttempt(call, 0, error);
    if (call !== this.#call || this.#finished) return;
    if (this.#responding) {
      // Reset after headers: the client must see a truncated message, not a clean end.
      this.#res.destroy();
      return;
    }
    if (call.discard) {
      this.#retryLater();
      return;
    }
    const status = gatewayStatusFor(error);
    this.#lastFailureStatus = status;
    if (status === 502 && this.#mayRetry(call, wasNeverSent(error))) {
      this.#retryLater();
      return;
    }
    this.#respondError(status);
  }

  // ---- retries ------------------------------------------------------------------------------------

  #mayRetry(call: UpstreamCall, neverSent: boolean): boolean {
    const runtime = this.#runtime;
    const verdict = runtime.retry.verdict(
      this.#req.method ?? 'GET',
      this.#body.kind !== 'streamed',
      neverSent,
      this.#attempts,
      this.#deadline - performance.now(),
    );
    if (verdict === 'retry') {
      runtime.observer.retried(call.target.name);
      return true;
    }
    if (verdict === 'budget') runtime.observer.retryBudgetExhausted();
    return false;
  }

  #retryLater(): void {
    const backoff = this.#runtime.retry.backoffMs(this.#previousBackoffMs);
    this.#previousBackoffMs = backoff;
    // Never wait past the request's deadline: the next attempt gets what time is left.
    const delay = Math.min(backoff, Math.max(0, this.#deadline - performance.now() - 1));
    this.#retryTimer = setTimeout(retryNow, delay, this);
  }

  /** @internal the retry timer's target */
  retryNow(): void {
    this.#retryTimer = undefined;
    if (!this.#finished) this.#route();
  }

  // ---- telemetry and the end of the exchange ---------------------------------------------------

  #reportAttempt(call: UpstreamCall, status: number, error: Error | undefined): void {
    const runtime = this.#runtime;
    const outcome =
      error === undefined
        ? defaultClassifier.classifyResult(call)
        : defaultClassifier.classifyError(error);
    runtime.selector.report(call.target, outcome);
    if (outcome === 'cancelled') return;
    const attempt: UpstreamAttempt = {
      upstream: call.target.name,
      status,
      failed: outcome === 'upstream' || outcome === 'transient' || outcome === 'timeout',
      durationSeconds: (performance.now() - call.startedAt) / 1000,
    };
    runtime.observer.upstreamAttempt(attempt);
    this.#span.upstreamAttempt(attempt);
  }

  #endCall(call: UpstreamCall): void {
    if (call.mark < 0) return;
    this.#runtime.selector.end(call.entry, call.mark);
    call.mark = -1;
  }

  #respondError(status: number, extra?: Readonly<Record<string, string>>): void {
    sendProxyError(this.#res, status, extra);
  }

  readonly #onClose = (): void => {
    if (this.#finished) return;
    this.#finished = true;
    const res = this.#res;
    const completed = res.writableFinished;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    const call = this.#call;
    if (call !== undefined && !call.ended) call.abort(CLIENT_ABORTED);
    const runtime = this.#runtime;
    runtime.backpressure.release();
    const finished: FinishedRequest = {
      method: this.#req.method ?? 'GET',
      path: this.#path,
      status: completed || res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST,
      durationSeconds: (performance.now() - this.#startedAt) / 1000,
      upstream: this.#upstream,
      attempts: this.#attempts,
      clientIp: this.#clientIp,
      traceId: this.#span.traceId,
      bytesSent: this.#bytesSent,
      truncated: !completed,
    };
    this.#span.end(finished);
    runtime.observer.requestFinished(finished);
  };
}

function retryNow(exchange: ProxyExchange): void {
  exchange.retryNow();
}

/** The ingress callbacks of one runtime: admission control, then a {@link ProxyExchange}. */
function ingressHandlers(runtime: ProxyRuntime, endpoints: EndpointHandler): IngressHandlers {
  const { backpressure, observer, trusted } = runtime;
  const forwardingOf = (req: IncomingMessage): ForwardingResult =>
    forwardingHeaders({
      peerAddress: req.socket.remoteAddress ?? '',
      headers: req.headers,
      encrypted: (req.socket as { encrypted?: boolean }).encrypted === true,
      trusted,
    });
  const begin = (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    startedAt: number,
    forwarding: ForwardingResult,
  ): void => {
    observer.requestStarted();
    new ProxyExchange(runtime, req, res, path, startedAt, forwarding).start();
  };
  return {
    endpoints,
    observer,
    proxy(req, res, path, startedAt) {
      const forwarding = forwardingOf(req);
      const refuse = (status: number, retryAfter: string): void => {
        sendProxyError(res, status, { 'retry-after': retryAfter });
        reportLocalAnswer(observer, req, res, path, startedAt, forwarding.clientIp);
      };
      // Backpressure: refuse at once beyond maxInFlight, never queue.
      if (!backpressure.tryAcquire()) {
        observer.backpressureRejected();
        refuse(503, String(BACKPRESSURE_RETRY_AFTER_SECONDS));
        return;
      }
      // Per-client rate limit, keyed by the client IP under the trusted-proxy policy.
      const limit = runtime.rateLimit;
      const wait = limit === undefined ? 0 : limit.admit(forwarding.clientIp);
      if (wait === 0) {
        begin(req, res, path, startedAt, forwarding);
        return;
      }
      const decide = (ms: number): void => {
        if (ms === 0) {
          begin(req, res, path, startedAt, forwarding);
          return;
        }
        backpressure.release();
        observer.rateLimited();
        refuse(429, retryAfterSeconds(ms));
      };
      if (typeof wait === 'number') {
        decide(wait);
        return;
      }
      wait.then(decide, () => {
        // The Redis limiter decides by its failure policy and does not reject; be safe anyway.
        backpressure.release();
        refuse(503, '1');
      });
    },
    adopt(socket: Duplex): void {
      runtime.adopt(socket);
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      const forwarding = forwardingOf(req);
      // The same admission as any request, answered on the raw socket before any upstream is
      // contacted: backpressure first (an upgrade holds its slot for the tunnel's life, as
      // Envoy counts an upgraded stream as an active request), then the client's rate limit.
      if (!backpressure.tryAcquire()) {
        observer.backpressureRejected();
        refuseUpgrade(socket, 503, String(BACKPRESSURE_RETRY_AFTER_SECONDS));
        return;
      }
      const limit = runtime.rateLimit;
      const wait = limit === undefined ? 0 : limit.admit(forwarding.clientIp);
      if (wait === 0) {
        upgradeTunnel(runtime, req, socket, head, forwarding);
        return;
      }
      const decide = (ms: number): void => {
        if (ms === 0 && !socket.destroyed) {
          upgradeTunnel(runtime, req, socket, head, forwarding);
          return;
        }
        backpressure.release();
        if (ms === 0) return;
        observer.rateLimited();
        refuseUpgrade(socket, 429, retryAfterSeconds(ms));
      };
      if (typeof wait === 'number') {
        decide(wait);
        return;
      }
      wait.then(decide, () => {
        backpressure.release();
        refuseUpgrade(socket, 503, '1');
      });
    },
  };
}

const UPGRADE_REFUSALS = { 429: 'Too Many Requests', 503: 'Service Unavailable' } as const;

/** Answers an Upgrade request the proxy refuses on its raw socket, and closes it. */
function refuseUpgrade(socket: Duplex, status: 429 | 503, retryAfter: string | undefined): void {
  const retry = retryAfter === undefined ? '' : `retry-after: ${retryAfter}\r\n`;
  answerAndClose(
    socket,
    `HTTP/1.1 ${String(status)} ${UPGRADE_REFUSALS[status]}\r\n${retry}connection: close\r\ncontent-length: 0\r\n\r\n`,
  );
}

/**
 * Routes an admitted Upgrade request and hands it to the tunnel; the backpressure slot taken at
 * admission is given back when the tunnel closes or the upgrade is refused.
 */
function upgradeTunnel(
  runtime: ProxyRuntime,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  forwarding: ForwardingResult,
): void {
  const entry = runtime.selector.pick(forwarding.clientIp, undefined, 0);
  if (entry === undefined) {
    runtime.backpressure.release();
    refuseUpgrade(socket, 503, undefined);
    return;
  }
  const target = entry.upstream;
  const parent = parseTraceparent(
    typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined,
  );
  const trace = nextTraceparent(parent);
  const headers = upstreamRequestHeaders(
    req.headers,
    forwarding.headers,
    trace.traceparent,
    parent !== undefined,
  );
  rewriteHost(headers, target.hostHeader);
  const mark = runtime.selector.begin(entry);
  const done = (): void => {
    runtime.selector.end(entry, mark);
    runtime.backpressure.release();
  };
  proxyUpgrade({
    req,
    socket,
    head,
    origin: target.name,
    headers,
    connectTimeoutMs: runtime.config.connectTimeoutMs,
  }).then(
    (result) => {
      if (result === 'tunnelled' && !socket.destroyed) socket.once('close', done);
      else done();
    },
    () => {
      done();
      socket.destroy();
    },
  );
}

/**
 * Creates a reverse proxy over `options.upstreams`. Options are validated at once (a RangeError
 * or ConfigError names the bad one); nothing listens until {@link Proxy.listen}.
 */
export function createProxy(options: ProxyOptions): Proxy {
  const runtime = new ProxyRuntime(options);
  const endpoints = new EndpointHandler({
    status: runtime,
    metrics: runtime.metrics,
    board: runtime.board,
    token: runtime.config.metricsBearerToken,
    anyUpstreamAvailable: () => runtime.selector.anyAvailable(),
  });
  const server = createIngressServer(ingressHandlers(runtime, endpoints));
  const tracker = new ConnectionTracker(server);
  let drained: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  let started = false;

  const listen = async (): Promise<ProxyAddress> => {
    const { host, port } = runtime.config.listen;
    server.listen(port, host);
    await once(server, 'listening');
    if (!started) {
      started = true;
      runtime.selector.start();
    }
    const address = server.address() as AddressInfo;
    const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { host: address.address, port: address.port, url: `http://${shown}:${address.port}` };
  };

  /** Stops accepting; resolves when every connection of the server has gone. */
  const stopListening = (): Promise<unknown> => {
    if (!server.listening) return Promise.resolve();
    const serverClosed = once(server, 'close');
    server.close();
    return serverClosed;
  };

  const shutdown = (): Promise<void> =>
    (drained ??= (async () => {
      runtime.draining = true;
      tracker.beginDrain();
      const serverClosed = stopListening();
      const { forced } = await tracker.drain(runtime.config.shutdownGraceSeconds * 1000);
      if (forced > 0) runtime.logger.warn({ forced }, 'connections closed at the grace deadline');
      await serverClosed;
      await runtime.closeClients();
    })());

  const close = (): Promise<void> =>
    (closed ??= (async () => {
      runtime.draining = true;
      const serverClosed = stopListening();
      server.closeAllConnections();
      runtime.destroyHandedOver();
      await serverClosed;
      await runtime.closeClients();
    })());

  return {
    listen,
    server,
    status: runtime,
    config: runtime.config,
    shutdown,
    close,
    [Symbol.asyncDispose]: close,
  };
}
