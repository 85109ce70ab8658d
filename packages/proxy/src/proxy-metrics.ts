/**
 * Why: the proxy's `/metrics` endpoint, in Prometheus' text format through prom-client. Metric
 * names follow the original reverse-proxy design's sample (`requests_total` and
 * `request_latency_seconds` labelled `method`, `path`, `status`, `status_class`), so dashboards
 * written for it keep working; the per-upstream, retry, rate-limit and backpressure series are the
 * ones HAProxy and Envoy export for the same events. Everything lives in a registry of its own
 * (never prom-client's global one), so two proxies in one process, or a proxy inside an
 * application with its own metrics, never collide. Cardinality is bounded: paths go through
 * {@link PathLabeler}, methods outside the standard set become `OTHER`, and per-upstream series are
 * keyed by the configured upstreams only. Upstream health, breaker state and in-flight counts are
 * read from the proxy's live status when Prometheus scrapes, not tracked on the request path; the
 * per-request counts and latency buckets are plain numbers that prom-client reads at scrape time
 * too, because hashing a label set per request (what `counter.inc(labels)` does) costs several
 * microseconds a request.
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type PrometheusContentType,
} from 'prom-client';
import { DEFAULT_MAX_PATH_LABELS, PathLabeler } from './path-labeler.js';
import type {
  BreakerStateLabel,
  FinishedRequest,
  ProxyObserver,
  ProxyStatusSource,
  UpstreamAttempt,
} from './proxy-observer.js';

/** Methods that keep their own `method` label value; any other becomes {@link OTHER_METHOD}. */
export const KNOWN_METHODS: readonly string[] = Object.freeze([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/** `method` label of requests whose method is not in {@link KNOWN_METHODS}. */
export const OTHER_METHOD = 'OTHER';

/** Buckets of `request_latency_seconds` and `upstream_latency_seconds`, in seconds. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

const BREAKER_STATES: readonly BreakerStateLabel[] = ['closed', 'open', 'half-open', 'disabled'];

const KNOWN_METHOD_SET = new Set(KNOWN_METHODS);

/** The `method` label for a request method: the method itself when standard, else `OTHER`. */
export function methodLabel(method: string): string {
  return KNOWN_METHOD_SET.has(method) ? method : OTHER_METHOD;
}

/** The `status_class` label for a status: `2xx`, `5xx`…, or `none` when no valid status exists. */
export function statusClass(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599
    ? `${String(Math.floor(status / 100))}xx`
    : 'none';
}

/** Options of {@link ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /** Live proxy state, read at scrape time for the per-upstream gauges. */
  readonly status: ProxyStatusSource;
  /** Cap on distinct `path` label values (see {@link PathLabeler}); default {@link DEFAULT_MAX_PATH_LABELS}. */
  readonly maxPathLabels?: number;
  /** Also export prom-client's default `process_*` and `nodejs_*` metrics (default true). */
  readonly processMetrics?: boolean;
}

type RequestLabel = 'method' | 'path' | 'status' | 'status_class';

/** Counts and latency buckets of one label set, kept as plain numbers on the request path. */
interface Series {
  readonly labels: Readonly<Record<string, string>>;
  count: number;
  sum: number;
  /** Observations per bucket of {@link LATENCY_BUCKETS_SECONDS} (not cumulative); the rest is +Inf. */
  readonly buckets: Float64Array;
}

interface UpstreamSeries {
  readonly latency: Series;
  errors: number;
  readonly byClass: Map<string, Series>;
}

function newSeries(labels: Readonly<Record<string, string>>): Series {
  return { labels, count: 0, sum: 0, buckets: new Float64Array(LATENCY_BUCKETS_SECONDS.length) };
}

function observe(series: Series, seconds: number): void {
  const value = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  series.count++;
  series.sum += value;
  const bounds = LATENCY_BUCKETS_SECONDS;
  for (let i = 0; i < bounds.length; i++) {
    if (value <= (bounds[i] ?? 0)) {
      series.buckets[i] = (series.buckets[i] ?? 0) + 1;
      return;
    }
  }
}

type CounterData = Awaited<ReturnType<Counter['get']>>;
type HistogramData = Awaited<ReturnType<Histogram['get']>>;

/**
 * A prom-client counter whose values are read from plain numbers at scrape time, so counting on
 * the request path costs an increment instead of a label hash.
 */
class SnapshotCounter extends Counter {
  readonly #name: string;
  readonly #help: string;
  readonly #values: () => Iterable<{ labels: Readonly<Record<string, string>>; value: number }>;

  constructor(
    config: { name: string; help: string; labelNames: string[]; registers: Registry[] },
    values: () => Iterable<{ labels: Readonly<Record<string, string>>; value: number }>,
  ) {
    super(config);
    this.#name = config.name;
    this.#help = config.help;
    this.#values = values;
  }

  override get(): Promise<CounterData> {
    const values = [];
    for (const { labels, value } of this.#values()) values.push({ labels: { ...labels }, value });
    return Promise.resolve({
      name: this.#name,
      help: this.#help,
      type: 'counter',
      aggregator: 'sum',
      values,
    } as unknown as CounterData);
  }
}

/**
 * A prom-client histogram whose buckets are read from {@link Series} at scrape time. prom-client
 * renders a histogram through `getForPromString` when it exists, so both readers answer the same.
 */
class SnapshotHistogram extends Histogram {
  readonly #name: string;
  readonly #help: string;
  readonly #series: () => Iterable<Series>;

  constructor(
    config: { name: string; help: string; labelNames: string[]; registers: Registry[] },
    series: () => Iterable<Series>,
  ) {
    super({ ...config, buckets: [...LATENCY_BUCKETS_SECONDS] });
    this.#name = config.name;
    this.#help = config.help;
    this.#series = series;
  }

  override get(): Promise<HistogramData> {
    const name = this.#name;
    const values = [];
    for (const series of this.#series()) {
      let cumulative = 0;
      LATENCY_BUCKETS_SECONDS.forEach((bound, i) => {
        cumulative += series.buckets[i] ?? 0;
        values.push({
          labels: { ...series.labels, le: bound },
          value: cumulative,
          metricName: `${name}_bucket`,
        });
      });
      values.push(
        {
          labels: { ...series.labels, le: '+Inf' },
          value: series.count,
          metricName: `${name}_bucket`,
        },
        { labels: { ...series.labels }, value: series.sum, metricName: `${name}_sum` },
        { labels: { ...series.labels }, value: series.count, metricName: `${name}_count` },
      );
    }
    return Promise.resolve({
      name,
      help: this.#help,
      type: 'histogram',
      aggregator: 'sum',
      values,
    } as unknown as HistogramData);
  }

  getForPromString(): Promise<HistogramData> {
    return this.get();
  }
}

/** Most upstreams with series of their own; attempts naming others are not counted. */
const MAX_UPSTREAM_SERIES = 1024;

/** Raw paths remembered with their label; the cache is emptied when it reaches this size. */
const PATH_CACHE_SIZE = 4096;

let sharedProcessRegistry: Registry | undefined;

/**
 * One registry of prom-client's default `process_*` and `nodejs_*` metrics per process: they
 * describe the process, and prom-client's collectors (a GC observer, an event-loop monitor) are
 * never released, so they are created once however many proxies the process runs.
 */
function processRegistry(): Registry {
  if (sharedProcessRegistry === undefined) {
    sharedProcessRegistry = new Registry();
    collectDefaultMetrics({ register: sharedProcessRegistry });
  }
  return sharedProcessRegistry;
}

/**
 * Prometheus metrics of one proxy, fed as a {@link ProxyObserver} and rendered by `/metrics`.
 *
 * Series (all in the proxy's own registry):
 * - `requests_total{method,path,status,status_class}` and
 *   `request_latency_seconds{method,path,status,status_class}` (histogram): every answered request.
 * - `upstream_requests_total{upstream,status_class}`, `upstream_errors_total{upstream}` and
 *   `upstream_latency_seconds{upstream}` (histogram): every attempt at an upstream
 *   (`status_class="none"` when no response arrived).
 * - `upstream_healthy{upstream}` (1 or 0), `upstream_breaker_state{upstream,state}` (1 for the
 *   current state of `closed`, `open`, `half-open`, `disabled`, else 0) and
 *   `upstream_in_flight{upstream}`: read from the live status at scrape time.
 * - `in_flight_requests`: requests admitted and not finished now (what `maxInFlight` limits).
 * - `retries_total{upstream}` (labelled with the upstream that failed),
 *   `retry_budget_exhausted_total`, `rate_limited_total`, `backpressure_rejected_total`.
 * - `proxy_ready` and `proxy_draining` (1 or 0).
 */
export class ProxyMetrics implements ProxyObserver {
  /** The registry holding every series of this proxy; add your own metrics to it if you like. */
  readonly registry: Registry;
  /** `Content-Type` of {@link ProxyMetrics.render}'s output. */
  readonly contentType: PrometheusContentType;

  readonly #paths: PathLabeler;
  readonly #pathCache = new Map<string, string>();
  readonly #requestSeries = new Map<string, Series>();
  readonly #upstreamSeries = new Map<string, UpstreamSeries>();
  readonly #retries: Counter<'upstream'>;
  readonly #budgetExhausted: Counter;
  readonly #rateLimited: Counter;
  readonly #backpressure: Counter;
  readonly #processMetrics: boolean;

  /** Creates the registry and every series; a bad `maxPathLabels` throws a RangeError naming it. */
  constructor(options: ProxyMetricsOptions) {
    const status = options.status;
    this.#paths = new PathLabeler({ maxLabels: options.maxPathLabels ?? DEFAULT_MAX_PATH_LABELS });
    const registry = new Registry();
    this.registry = registry;
    this.contentType = registry.contentType;
    const registers = [registry];
    const requestLabels: RequestLabel[] = ['method', 'path', 'status', 'status_class'];
    const requests = this.#requestSeries;
    const upstreams = this.#upstreamSeries;
    // Known upstreams show zero counts from the start, so `rate()` works at once.
    for (const u of status.upstreams()) this.#upstream(u.name);

    new SnapshotCounter(
      {
        name: 'requests_total',
        help: 'Requests answered by the proxy, by method, normalised path and status.',
        labelNames: requestLabels,
        registers,
      },
      function* () {
        for (const series of requests.values())
          yield { labels: series.labels, value: series.count };
      },
    );
    new SnapshotHistogram(
      {
        name: 'request_latency_seconds',
        help: 'Time from request arrival to the end of the response, in seconds.',
        labelNames: requestLabels,
        registers,
      },
      () => requests.values(),
    );
    new SnapshotCounter(
      {
        name: 'upstream_requests_total',
        help: 'Attempts sent to each upstream, by response status class (none: no response).',
        labelNames: ['upstream', 'status_class'],
        registers,
      },
      function* () {
        for (const u of upstreams.values()) {
          for (const series of u.byClass.values()) {
            yield { labels: series.labels, value: series.count };
          }
        }
      },
    );
    new SnapshotCounter(
      {
        name: 'upstream_errors_total',
        help: 'Attempts at each upstream that failed (connect error, reset, timeout or failure status).',
        labelNames: ['upstream'],
        registers,
      },
      function* () {
        for (const u of upstreams.values()) yield { labels: u.latency.labels, value: u.errors };
      },
    );
    new SnapshotHistogram(
      {
        name: 'upstream_latency_seconds',
        help: 'Time from sending an attempt to the upstream response headers or failure, in seconds.',
        labelNames: ['upstream'],
        registers,
      },
      function* () {
        for (const u of upstreams.values()) yield u.latency;
      },
    );
    new Gauge({
      name: 'upstream_healthy',
      help: 'Whether health checks consider the upstream usable (1) or not (0).',
      labelNames: ['upstream'],
      registers,
      collect(this: Gauge<'upstream'>) {
        this.reset();
        for (const u of status.upstreams()) this.set({ upstream: u.name }, u.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'upstream_breaker_state',
      help: 'Circuit breaker state of each upstream: 1 for the current state, 0 for the others.',
      labelNames: ['upstream', 'state'],
      registers,
      collect(this: Gauge<'upstream' | 'state'>) {
        this.reset();
        for (const u of status.upstreams()) {
          for (const state of BREAKER_STATES) {
            this.set({ upstream: u.name, state }, u.breaker === state ? 1 : 0);
          }
        }
      },
    });
    new Gauge({
      name: 'upstream_in_flight',
      help: 'Requests in flight at each upstream.',
      labelNames: ['upstream'],
      registers,
      collect(this: Gauge<'upstream'>) {
        this.reset();
        for (const u of status.upstreams()) this.set({ upstream: u.name }, u.inFlight);
      },
    });
    new Gauge({
      name: 'in_flight_requests',
      help: 'Requests admitted and not finished yet (what max_in_flight limits).',
      registers,
      collect(this: Gauge) {
        let total = status.inFlight;
        if (total === undefined) {
          total = 0;
          for (const u of status.upstreams()) total += u.inFlight;
        }
        this.set(total);
      },
    });
    new Gauge({
      name: 'proxy_ready',
      help: 'Whether the proxy reports ready (1) or not (0).',
      registers,
      collect(this: Gauge) {
        this.set(status.ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'proxy_draining',
      help: 'Whether the proxy is draining for shutdown (1) or not (0).',
      registers,
      collect(this: Gauge) {
        this.set(status.draining ? 1 : 0);
      },
    });
    this.#retries = new Counter({
      name: 'retries_total',
      help: 'Retries sent, labelled with the upstream whose failure caused them.',
      labelNames: ['upstream'],
      registers,
    });
    this.#budgetExhausted = new Counter({
      name: 'retry_budget_exhausted_total',
      help: 'Retries wanted but refused by the retry budget.',
      registers,
    });
    this.#rateLimited = new Counter({
      name: 'rate_limited_total',
      help: 'Requests refused by the per-client rate limit (429).',
      registers,
    });
    this.#backpressure = new Counter({
      name: 'backpressure_rejected_total',
      help: 'Requests refused because the in-flight limit was reached (503).',
      registers,
    });
    this.#processMetrics = options.processMetrics ?? true;
    if (this.#processMetrics) processRegistry();
  }

  /**
   * The metrics in Prometheus' text exposition format: this proxy's registry, followed by the
   * process metrics when they are on (they live in one registry per process, see
   * {@link ProxyMetricsOptions.processMetrics}).
   */
  async render(): Promise<string> {
    const own = await this.registry.metrics();
    if (!this.#processMetrics) return own;
    return `${own}\n${await processRegistry().metrics()}`;
  }

  /** {@inheritDoc ProxyObserver.requestStarted} */
  requestStarted(): void {
    // In-flight counts are read from the live status at scrape time.
  }

  /** {@inheritDoc ProxyObserver.requestFinished} */
  requestFinished(request: FinishedRequest): void {
    const method = methodLabel(request.method);
    const path = this.#pathLabel(request.path);
    const status = request.status;
    const key = `${method} ${String(status)} ${path}`;
    let series = this.#requestSeries.get(key);
    if (series === undefined) {
      series = newSeries({
        method,
        path,
        status: String(status),
        status_class: statusClass(status),
      });
      this.#requestSeries.set(key, series);
    }
    observe(series, request.durationSeconds);
  }

  /** {@inheritDoc ProxyObserver.upstreamAttempt} */
  upstreamAttempt(attempt: UpstreamAttempt): void {
    const upstream = this.#upstream(attempt.upstream);
    if (upstream === undefined) return;
    const cls = statusClass(attempt.status);
    let byClass = upstream.byClass.get(cls);
    if (byClass === undefined) {
      byClass = newSeries({ upstream: attempt.upstream, status_class: cls });
      upstream.byClass.set(cls, byClass);
    }
    byClass.count++;
    if (attempt.failed) upstream.errors++;
    observe(upstream.latency, attempt.durationSeconds);
  }

  /** {@inheritDoc ProxyObserver.retried} */
  retried(upstream: string): void {
    this.#retries.inc({ upstream });
  }

  /** {@inheritDoc ProxyObserver.retryBudgetExhausted} */
  retryBudgetExhausted(): void {
    this.#budgetExhausted.inc();
  }

  /** {@inheritDoc ProxyObserver.rateLimited} */
  rateLimited(): void {
    this.#rateLimited.inc();
  }

  /** {@inheritDoc ProxyObserver.backpressureRejected} */
  backpressureRejected(): void {
    this.#backpressure.inc();
  }

  #pathLabel(path: string): string {
    let label = this.#pathCache.get(path);
    if (label === undefined) {
      label = this.#paths.label(path);
      if (this.#pathCache.size >= PATH_CACHE_SIZE) this.#pathCache.clear();
      this.#pathCache.set(path, label);
    }
    return label;
  }

  #upstream(name: string): UpstreamSeries | undefined {
    let upstream = this.#upstreamSeries.get(name);
    if (upstream === undefined) {
      if (this.#upstreamSeries.size >= MAX_UPSTREAM_SERIES) return undefined;
      upstream = { latency: newSeries({ upstream: name }), errors: 0, byClass: new Map() };
      this.#upstreamSeries.set(name, upstream);
    }
    return upstream;
  }
}
