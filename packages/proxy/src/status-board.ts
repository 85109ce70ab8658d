/**
 * Why: Prometheus answers "what happened over the last hour" for whoever runs a Prometheus; the
 * status page answers "what is happening now" for whoever opens a browser, like HAProxy's stats
 * page with its current session rate, error counts and server states. This board keeps, per
 * upstream and for the whole proxy, a rolling window of a few seconds: a ring of per-second
 * buckets, each holding counts and a small fixed-bucket latency histogram, so memory is constant
 * however much traffic passes, and p50/p99 come from merging the live buckets (the approach of
 * HdrHistogram's and Envoy's interval histograms, with coarser buckets). Time comes from an
 * injectable clock so the windows roll over on virtual time in tests. `/status.json` is
 * {@link StatusBoard.report}.
 */
import { type Clock, requireInteger, systemClock } from '@proxykit/core';
import { ENDPOINT_PATHS } from './endpoints.js';
import type {
  BreakerStateLabel,
  FinishedRequest,
  ProxyObserver,
  ProxyStatusSource,
  UpstreamAttempt,
} from './proxy-observer.js';

/** Upper bound of the first latency bucket, in seconds (0.1 ms). */
export const LATENCY_FIRST_BOUND_SECONDS = 0.0001;

/** Ratio between consecutive latency bucket bounds: a percentile is at most 20 % above the truth. */
export const LATENCY_BUCKET_RATIO = 1.2;

/** Latency bucket upper bounds in seconds, from 0.1 ms to about 2 minutes; beyond the last, +Inf. */
export const LATENCY_BOUNDS_SECONDS: readonly number[] = Object.freeze(
  Array.from({ length: 78 }, (_, i) => LATENCY_FIRST_BOUND_SECONDS * LATENCY_BUCKET_RATIO ** i),
);

const BUCKETS = LATENCY_BOUNDS_SECONDS.length + 1;
const LOG_RATIO = Math.log(LATENCY_BUCKET_RATIO);

/** Index of the latency bucket holding `seconds`: bucket i holds (bound[i-1], bound[i]]. */
export function latencyBucket(seconds: number): number {
  if (!(seconds > LATENCY_FIRST_BOUND_SECONDS)) return 0;
  let i = Math.min(
    Math.ceil(Math.log(seconds / LATENCY_FIRST_BOUND_SECONDS) / LOG_RATIO),
    LATENCY_BOUNDS_SECONDS.length,
  );
  // Correct floating-point error at the bounds, so the bucket matches the bounds table exactly.
  const bounds = LATENCY_BOUNDS_SECONDS;
  while (i > 0 && seconds <= (bounds[i - 1] ?? Number.POSITIVE_INFINITY)) i--;
  while (i < bounds.length && seconds > (bounds[i] ?? Number.POSITIVE_INFINITY)) i++;
  return Math.min(i, BUCKETS - 1);
}

/** Ring position of a time bucket (epochs may be negative on a clock that starts below zero). */
function slotIndex(epoch: number, slots: number): number {
  return ((epoch % slots) + slots) % slots;
}

/** One time bucket of a rolling window. */
class Slot {
  epoch = Number.NEGATIVE_INFINITY;
  requests = 0;
  errors = 0;
  max = 0;
  readonly latency = new Uint32Array(BUCKETS);

  reset(epoch: number): void {
    this.epoch = epoch;
    this.requests = 0;
    this.errors = 0;
    this.max = 0;
    this.latency.fill(0);
  }
}

/** Totals of a rolling window at one instant. */
export interface WindowStats {
  /** Requests (or attempts) recorded in the window. */
  readonly requests: number;
  /** Those that failed. */
  readonly errors: number;
  /** Requests per second over the window. */
  readonly requestsPerSecond: number;
  /** `errors / requests`, 0 when there were none. */
  readonly errorRate: number;
  /** Median latency in seconds, `null` without requests. At most 20 % above the exact value. */
  readonly p50Seconds: number | null;
  /** 99th percentile latency in seconds, `null` without requests. At most 20 % above the exact value. */
  readonly p99Seconds: number | null;
}

/**
 * A rolling window of request counts, errors and latencies: `slots` buckets of `bucketMs` each,
 * the current (partial) one included. Memory is fixed at construction.
 */
export class RollingWindow {
  readonly #slots: Slot[];
  readonly #bucketMs: number;
  readonly #clock: Clock;
  readonly #startedAt: number;
  readonly #merged = new Uint32Array(BUCKETS);

  /**
   * A window of `slots` buckets of `bucketMs` milliseconds on `clock`; rates count time from
   * `startedAt` (default: now), so a window created late does not see a burst as a huge rate.
   */
  constructor(slots: number, bucketMs: number, clock: Clock, startedAt: number = clock.now()) {
    this.#slots = Array.from({ length: slots }, () => new Slot());
    this.#bucketMs = bucketMs;
    this.#clock = clock;
    this.#startedAt = startedAt;
  }

  /** Records one request that took `seconds` and failed or not. */
  record(seconds: number, failed: boolean): void {
    const epoch = Math.floor(this.#clock.now() / this.#bucketMs);
    const slot = this.#slots[slotIndex(epoch, this.#slots.length)];
    if (slot === undefined) return;
    if (slot.epoch !== epoch) slot.reset(epoch);
    slot.requests++;
    if (failed) slot.errors++;
    const value = seconds > 0 ? seconds : 0;
    if (value > slot.max) slot.max = value;
    const bucket = latencyBucket(value);
    slot.latency[bucket] = (slot.latency[bucket] ?? 0) + 1;
  }

  /** The window's totals now. */
  stats(): WindowStats {
    const now = this.#clock.now();
    const epoch = Math.floor(now / this.#bucketMs);
    const oldest = epoch - this.#slots.length + 1;
    const merged = this.#merged;
    merged.fill(0);
    let requests = 0;
    let errors = 0;
    let max = 0;
    for (const slot of this.#slots) {
      if (slot.epoch < oldest || slot.epoch > epoch) continue;
      requests += slot.requests;
      errors += slot.errors;
      if (slot.max > max) max = slot.max;
      for (let i = 0; i < BUCKETS; i++) merged[i] = (merged[i] ?? 0) + (slot.latency[i] ?? 0);
    }
    const coveredMs = now - oldest * this.#bucketMs;
    // Rates are over the covered time, but never over less than one bucket: one request in the
    // first millisecond is not 1000 requests per second.
    const spanMs = Math.max(Math.min(coveredMs, now - this.#startedAt), this.#bucketMs);
    return {
      requests,
      errors,
      requestsPerSecond: (requests * 1000) / spanMs,
      errorRate: requests === 0 ? 0 : errors / requests,
      p50Seconds: percentile(merged, requests, 0.5, max),
      p99Seconds: percentile(merged, requests, 0.99, max),
    };
  }
}

/** Nearest-rank percentile from merged bucket counts: the bucket's upper bound, capped at `max`. */
function percentile(counts: Uint32Array, total: number, q: number, max: number): number | null {
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) {
      const bound = LATENCY_BOUNDS_SECONDS[i];
      return bound === undefined || bound > max ? max : bound;
    }
  }
  return max;
}

/** One upstream in a {@link StatusReport}. */
export interface UpstreamReport extends WindowStats {
  /** The upstream's name (its origin). */
  readonly name: string;
  /** Whether health checks consider it usable. */
  readonly healthy: boolean;
  /** Its breaker state. */
  readonly breaker: BreakerStateLabel;
  /** Requests to it in flight now. */
  readonly inFlight: number;
}

/** The whole proxy in a {@link StatusReport}: every answered request, whoever answered it. */
export interface ProxyReport extends WindowStats {
  /** Requests refused by the rate limit (429) within the window. */
  readonly rateLimited: number;
  /** Requests refused by the rate limit since start. */
  readonly rateLimitedTotal: number;
  /** Requests refused by backpressure (503) within the window. */
  readonly backpressureRejected: number;
  /** Retries sent within the window. */
  readonly retries: number;
  /** Retries refused by the retry budget within the window. */
  readonly retryBudgetExhausted: number;
}

/** One demo upstream in a {@link DemoReport}. */
export interface DemoUpstreamReport {
  /** The demo upstream's name (as in {@link UpstreamReport.name}). */
  readonly name: string;
  /** Whether it is answering 503 on purpose now. */
  readonly failing: boolean;
}

/** The demo section of a {@link StatusReport}: the page shows a break/repair button per upstream. */
export interface DemoReport {
  /** Every demo upstream. */
  readonly upstreams: readonly DemoUpstreamReport[];
}

/** What `/status.json` returns. */
export interface StatusReport {
  /** True once the first health round finished and while not draining. */
  readonly ready: boolean;
  /** True after shutdown began. */
  readonly draining: boolean;
  /** Length of the rolling window the rates and percentiles cover, in seconds. */
  readonly windowSeconds: number;
  /** Seconds since the board was created (roughly, since the proxy started). */
  readonly uptimeSeconds: number;
  /** The proxy as a whole. */
  readonly proxy: ProxyReport;
  /** Every upstream, in configuration order. */
  readonly upstreams: readonly UpstreamReport[];
  /** Present in demo mode: the demo upstreams and whether each is failing. */
  readonly demo?: DemoReport;
}

/** Options of {@link StatusBoard}. */
export interface StatusBoardOptions {
  /** Live proxy state: readiness, and each upstream's health, breaker and in-flight count. */
  readonly status: ProxyStatusSource;
  /** Time source (default: the system's monotonic clock). */
  readonly clock?: Clock;
  /** Length of the rolling window in seconds, an integer in [1, 3600]; default 10. */
  readonly windowSeconds?: number;
}

/** Most upstream names tracked, so attempts naming unknown upstreams cannot grow the board. */
const MAX_TRACKED_UPSTREAMS = 1024;

/** Counts events in the same rolling buckets as {@link RollingWindow}, without latencies. */
class RollingCounter {
  readonly #epochs: Float64Array;
  readonly #counts: Float64Array;
  readonly #bucketMs: number;
  readonly #clock: Clock;
  total = 0;

  constructor(slots: number, bucketMs: number, clock: Clock) {
    this.#epochs = new Float64Array(slots).fill(Number.NEGATIVE_INFINITY);
    this.#counts = new Float64Array(slots);
    this.#bucketMs = bucketMs;
    this.#clock = clock;
  }

  add(): void {
    const epoch = Math.floor(this.#clock.now() / this.#bucketMs);
    const slot = slotIndex(epoch, this.#epochs.length);
    if (this.#epochs[slot] !== epoch) {
      this.#epochs[slot] = epoch;
      this.#counts[slot] = 0;
    }
    this.#counts[slot] = (this.#counts[slot] ?? 0) + 1;
    this.total++;
  }

  inWindow(): number {
    const epoch = Math.floor(this.#clock.now() / this.#bucketMs);
    const oldest = epoch - this.#epochs.length + 1;
    let sum = 0;
    for (let i = 0; i < this.#epochs.length; i++) {
      const e = this.#epochs[i] ?? Number.NEGATIVE_INFINITY;
      if (e >= oldest && e <= epoch) sum += this.#counts[i] ?? 0;
    }
    return sum;
  }
}

/** Paths of the proxy's own endpoints, left out of the traffic the board shows. */
const OWN_ENDPOINTS: ReadonlySet<string> = new Set(ENDPOINT_PATHS);

/** Width of one time bucket of the rolling windows, in milliseconds. */
const BUCKET_MS = 1_000;

/**
 * The live picture behind the `/status` page: a {@link ProxyObserver} that keeps rolling windows
 * per upstream (fed by upstream attempts) and for the whole proxy (fed by answered requests),
 * and merges them with the live status into a {@link StatusReport}. A request counts as an error
 * when it was answered with a 5xx status or cut short; an attempt when the proxy judged it failed.
 * Answers of the proxy's own endpoints (`/healthz`, `/readyz`, `/metrics`, `/status`,
 * `/status.json`, `/status/demo`) are left out, so the page's polling does not show as traffic.
 */
export class StatusBoard implements ProxyObserver {
  readonly #status: ProxyStatusSource;
  readonly #clock: Clock;
  readonly #slots: number;
  readonly #startedAt: number;
  readonly #proxy: RollingWindow;
  readonly #upstreams = new Map<string, RollingWindow>();
  readonly #rateLimited: RollingCounter;
  readonly #backpressure: RollingCounter;
  readonly #retries: RollingCounter;
  readonly #budget: RollingCounter;

  /** Validates the options; a bad `windowSeconds` throws a RangeError naming it. */
  constructor(options: StatusBoardOptions) {
    const windowSeconds = requireInteger(
      'StatusBoard',
      'windowSeconds',
      options.windowSeconds ?? 10,
      1,
      3600,
    );
    this.#status = options.status;
    this.#clock = options.clock ?? systemClock;
    this.#slots = windowSeconds;
    this.#startedAt = this.#clock.now();
    this.#proxy = this.#window();
    this.#rateLimited = new RollingCounter(this.#slots, BUCKET_MS, this.#clock);
    this.#backpressure = new RollingCounter(this.#slots, BUCKET_MS, this.#clock);
    this.#retries = new RollingCounter(this.#slots, BUCKET_MS, this.#clock);
    this.#budget = new RollingCounter(this.#slots, BUCKET_MS, this.#clock);
  }

  /** The current picture: readiness, the proxy's window and each upstream's. */
  report(): StatusReport {
    const status = this.#status;
    const upstreams = status.upstreams().map((u): UpstreamReport => {
      const window = this.#upstreams.get(u.name);
      return {
        name: u.name,
        healthy: u.healthy,
        breaker: u.breaker,
        inFlight: u.inFlight,
        ...(window === undefined ? EMPTY_STATS : window.stats()),
      };
    });
    const report: StatusReport = {
      ready: status.ready,
      draining: status.draining,
      windowSeconds: (this.#slots * BUCKET_MS) / 1000,
      uptimeSeconds: Math.max(0, (this.#clock.now() - this.#startedAt) / 1000),
      proxy: {
        ...this.#proxy.stats(),
        rateLimited: this.#rateLimited.inWindow(),
        rateLimitedTotal: this.#rateLimited.total,
        backpressureRejected: this.#backpressure.inWindow(),
        retries: this.#retries.inWindow(),
        retryBudgetExhausted: this.#budget.inWindow(),
      },
      upstreams,
    };
    const demo = status.demo;
    if (demo === undefined) return report;
    return {
      ...report,
      demo: { upstreams: demo.upstreams().map((d) => ({ name: d.name, failing: d.failing })) },
    };
  }

  /** {@inheritDoc ProxyObserver.requestStarted} */
  requestStarted(): void {
    // In-flight counts come from the live status.
  }

  /** {@inheritDoc ProxyObserver.requestFinished} */
  requestFinished(request: FinishedRequest): void {
    // The page's own polling (and probes of /healthz, scrapes of /metrics) is not traffic.
    if (
      request.attempts === 0 &&
      request.upstream === undefined &&
      OWN_ENDPOINTS.has(request.path)
    ) {
      return;
    }
    this.#proxy.record(request.durationSeconds, request.status >= 500 || request.truncated);
  }

  /** {@inheritDoc ProxyObserver.upstreamAttempt} */
  upstreamAttempt(attempt: UpstreamAttempt): void {
    let window = this.#upstreams.get(attempt.upstream);
    if (window === undefined) {
      if (this.#upstreams.size >= MAX_TRACKED_UPSTREAMS) return;
      window = this.#window();
      this.#upstreams.set(attempt.upstream, window);
    }
    window.record(attempt.durationSeconds, attempt.failed);
  }

  /** {@inheritDoc ProxyObserver.retried} */
  retried(_upstream: string): void {
    this.#retries.add();
  }

  /** {@inheritDoc ProxyObserver.retryBudgetExhausted} */
  retryBudgetExhausted(): void {
    this.#budget.add();
  }

  /** {@inheritDoc ProxyObserver.rateLimited} */
  rateLimited(): void {
    this.#rateLimited.add();
  }

  /** {@inheritDoc ProxyObserver.backpressureRejected} */
  backpressureRejected(): void {
    this.#backpressure.add();
  }

  #window(): RollingWindow {
    return new RollingWindow(this.#slots, BUCKET_MS, this.#clock, this.#startedAt);
  }
}

const EMPTY_STATS: WindowStats = Object.freeze({
  requests: 0,
  errors: 0,
  requestsPerSecond: 0,
  errorRate: 0,
  p50Seconds: null,
  p99Seconds: null,
});
