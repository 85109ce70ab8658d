// Why: the upstream client stage, on undici (the HTTP/1.1 client Node's own fetch runs on): one
// keep-alive `Pool` per upstream and one `dispatch` per attempt with a handler object, so the
// response is written to the client as undici parses it — no intermediate stream, no promise per
// chunk — and backpressure is undici's pause/resume driven by the client socket's `drain`. The
// handler reports to a sink (the request's exchange) and can be aborted, which destroys the
// upstream request and releases its socket (the client-abort leak http-proxy never fixed).

import type { IncomingHttpHeaders } from 'node:http';
import type { BreakerPermit } from '@proxykit/circuit-breaker';
import type { UpstreamEntry } from '@proxykit/load-balancer';
import { type Dispatcher, Pool } from 'undici';
import type { ProxyConfig } from './proxy-config.js';
import type { UpstreamTarget } from './upstream-selector.js';

/** Creates the keep-alive connection pool of one upstream. */
export function createUpstreamPool(target: UpstreamTarget, config: ProxyConfig): Pool {
  return new Pool(target.name, {
    connect: { timeout: config.connectTimeoutMs },
    headersTimeout: config.requestTimeoutMs,
    bodyTimeout: config.requestTimeoutMs,
    keepAliveTimeout: 4_000,
    pipelining: 1,
  });
}

/** Receives the events of an {@link UpstreamCall}; the request's exchange implements it. */
export interface AttemptSink {
  /** Response headers arrived (1xx excluded). */
  attemptHeaders(attempt: UpstreamCall, statusCode: number, headers: IncomingHttpHeaders): void;
  /** A chunk of the response body. */
  attemptData(attempt: UpstreamCall, chunk: Buffer): void;
  /** The response ended (trailers are not forwarded, never merged into headers). */
  attemptEnd(attempt: UpstreamCall): void;
  /** The attempt failed: before headers (connect, reset, timeout) or after (a truncated body). */
  attemptError(attempt: UpstreamCall, error: Error): void;
}

/** The error an attempt is aborted with when its client went away (classified `cancelled`). */
export const CLIENT_ABORTED: Error = Object.freeze(
  Object.assign(new Error('the client closed the connection'), { name: 'AbortError' }),
);

/** One attempt of a request at one upstream: the undici dispatch handler. */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  /** Status of the response, 0 until headers arrive. */
  statusCode = 0;
  /** True once headers arrived (the upstream answered). */
  answered = false;
  /** True while the response is read and dropped (a failed response that will be retried). */
  discard = false;
  /** True once the request was handed to undici. */
  dispatched = false;
  /** True once it ended, one way or the other. */
  ended = false;
  #controller: Dispatcher.DispatchController | undefined = undefined;
  #abortReason: Error | undefined = undefined;

  constructor(
    /** Receives this call's events. */
    readonly sink: AttemptSink,
    /** The balancer's entry of the upstream called. */
    readonly entry: UpstreamEntry<UpstreamTarget>,
    /** The balancer's start mark (see `UpstreamSelector.begin`); -1 once the call was ended there. */
    public mark: number,
    /** `performance.now()` when the attempt started. */
    readonly startedAt: number,
    /**
     * The upstream's circuit-breaker permit, if breakers are on: told the response (whose
     * `statusCode` the breaker judges) when headers arrive, or the error when none do.
     */
    public permit?: BreakerPermit | undefined,
  ) {}

  /** The upstream tried. */
  get target(): UpstreamTarget {
    return this.entry.upstream;
  }

  /** Sends the request through `pool`. */
  dispatch(pool: Pool, options: Dispatcher.DispatchOptions): void {
    this.dispatched = true;
    pool.dispatch(options, this);
  }

  /** Pauses the response (the client is not reading). */
  pause(): void {
    this.#controller?.pause();
  }

  /** Resumes a paused response. */
  resume(): void {
    this.#controller?.resume();
  }

  /** Aborts the attempt; undici destroys the request and its socket. */
  abort(reason: Error): void {
    if (this.ended) return;
    this.#abortReason = reason;
    const controller = this.#controller;
    if (controller !== undefined && !controller.aborted) controller.abort(reason);
  }

  /** @internal undici */
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  /** @internal undici */
  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.statusCode = statusCode;
    this.answered = true;
    const permit = this.permit;
    if (permit !== undefined) {
      this.permit = undefined;
      permit.resolved(this);
    }
    this.sink.attemptHeaders(this, statusCode, headers);
  }

  /** @internal undici */
  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.discard) this.sink.attemptData(this, chunk);
  }

  /** @internal undici */
  onResponseEnd(): void {
    this.ended = true;
    this.sink.attemptEnd(this);
  }

  /** @internal undici */
  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.ended) return;
    this.ended = true;
    const permit = this.permit;
    if (permit !== undefined) {
      this.permit = undefined;
      permit.rejected(error);
    }
    this.sink.attemptError(this, error);
  }
}

/** Error codes that mean the deadline passed (504) rather than a broken upstream (502). */
const TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
]);

/** The status a failed attempt answers the client with: 504 for a timeout, else 502. */
export function gatewayStatusFor(error: unknown): 502 | 504 {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && TIMEOUT_CODES.has(code) ? 504 : 502;
}
