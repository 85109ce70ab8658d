// Why: the request path reports what happened through one narrow interface, and everything that
// watches it (Prometheus metrics, the status page's rolling windows, the access log) implements
// it. The request path therefore never imports prom-client or pino, and a test can observe a
// proxy with a plain object.

/** Breaker state of one upstream as the status page shows it; `disabled` when breakers are off. */
export type BreakerStateLabel = 'closed' | 'open' | 'half-open' | 'disabled';

/** What the proxy knows about one upstream right now. */
export interface UpstreamStatus {
  /** Stable label: the upstream's origin, e.g. `http://127.0.0.1:9000`. */
  readonly name: string;
  /** Whether health checks (active and passive) consider it usable. */
  readonly healthy: boolean;
  /** Breaker state. */
  readonly breaker: BreakerStateLabel;
  /** Requests to it in flight now. */
  readonly inFlight: number;
}

/** Live state of the proxy that observers read when they render. */
export interface ProxyStatusSource {
  /** True once the first health round finished and while not draining. */
  readonly ready: boolean;
  /** True after shutdown began. */
  readonly draining: boolean;
  /** A fresh snapshot of every upstream, in configuration order. */
  upstreams(): readonly UpstreamStatus[];
  /**
   * Requests admitted and not finished yet, what `maxInFlight` limits: those at an upstream, and
   * those reading their body or waiting to retry. When absent, the sum of the upstreams'
   * in-flight counts stands in for it.
   */
  readonly inFlight?: number | undefined;
  /** Present when the proxy fronts its embedded demo upstreams, so the status page can offer to break one. */
  readonly demo?: DemoControl | undefined;
}

/** One embedded demo upstream and whether it is failing now. */
export interface DemoUpstreamState {
  /** {@link UpstreamStatus.name} of the demo upstream. */
  readonly name: string;
  /** True while it answers 503. */
  readonly failing: boolean;
}

/** Switches the embedded demo upstreams between answering and failing (`pnpm start` without upstreams). */
export interface DemoControl {
  /** Each demo upstream by {@link UpstreamStatus.name}, and whether it is failing now. */
  upstreams(): readonly DemoUpstreamState[];
  /** Makes a demo upstream answer 503 (`failing` true) or answer normally again. Unknown names throw RangeError. */
  setFailing(name: string, failing: boolean): void;
}

/** One attempt at an upstream, successful or not. */
export interface UpstreamAttempt {
  /** {@link UpstreamStatus.name} of the upstream tried. */
  readonly upstream: string;
  /** Response status, or 0 when no response arrived (connect failure, reset, timeout). */
  readonly status: number;
  /** Whether the attempt counts as a failure for health and breaker purposes. */
  readonly failed: boolean;
  /** Time from sending to response headers (or to the failure), in seconds. */
  readonly durationSeconds: number;
}

/** One request the proxy answered, whatever answered it (upstream, limiter, endpoint). */
export interface FinishedRequest {
  /** Request method. */
  readonly method: string;
  /** Raw request path without the query (observers normalise it for labels). */
  readonly path: string;
  /** Status sent to the client. */
  readonly status: number;
  /** Time from request arrival to the end of the response, in seconds. */
  readonly durationSeconds: number;
  /** Upstream that produced the final response, if any. */
  readonly upstream: string | undefined;
  /** Upstream attempts made (0 for requests answered by the proxy itself). */
  readonly attempts: number;
  /** Client address after the trusted-proxy policy. */
  readonly clientIp: string;
  /** W3C trace id of the request. */
  readonly traceId: string;
  /** Response body bytes sent to the client. */
  readonly bytesSent: number;
  /** True when the response was cut short (client abort or upstream reset after headers). */
  readonly truncated: boolean;
}

/** Receives every event of the request path. All methods must be cheap and must not throw. */
export interface ProxyObserver {
  /** A proxied request entered (after backpressure admitted it). */
  requestStarted(): void;
  /** A request was answered; called once per request, proxied or not. */
  requestFinished(request: FinishedRequest): void;
  /** An upstream attempt ended. */
  upstreamAttempt(attempt: UpstreamAttempt): void;
  /** A retry is about to be sent; `upstream` is the one that failed. */
  retried(upstream: string): void;
  /** A retry was wanted but the retry budget refused it. */
  retryBudgetExhausted(): void;
  /** A client was refused by the rate limiter (429). */
  rateLimited(): void;
  /** A request was refused because `maxInFlight` was reached (503). */
  backpressureRejected(): void;
}

/** Fans every event out to several observers, in order. */
class ObserverFanOut implements ProxyObserver {
  readonly #observers: readonly ProxyObserver[];

  constructor(observers: readonly ProxyObserver[]) {
    this.#observers = observers;
  }

  requestStarted(): void {
    for (const observer of this.#observers) observer.requestStarted();
  }

  requestFinished(request: FinishedRequest): void {
    for (const observer of this.#observers) observer.requestFinished(request);
  }

  upstreamAttempt(attempt: UpstreamAttempt): void {
    for (const observer of this.#observers) observer.upstreamAttempt(attempt);
  }

  retried(upstream: string): void {
    for (const observer of this.#observers) observer.retried(upstream);
  }

  retryBudgetExhausted(): void {
    for (const observer of this.#observers) observer.retryBudgetExhausted();
  }

  rateLimited(): void {
    for (const observer of this.#observers) observer.rateLimited();
  }

  backpressureRejected(): void {
    for (const observer of this.#observers) observer.backpressureRejected();
  }
}

/** One observer that tells each of `observers` every event, in order (the one itself when alone). */
export function combineObservers(observers: readonly ProxyObserver[]): ProxyObserver {
  const [only] = observers;
  return observers.length === 1 && only !== undefined
    ? only
    : new ObserverFanOut(Object.freeze([...observers]));
}
