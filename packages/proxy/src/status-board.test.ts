import { fc, test } from '@fast-check/vitest';
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type {
  DemoControl,
  FinishedRequest,
  ProxyStatusSource,
  UpstreamStatus,
} from './proxy-observer.js';
import {
  LATENCY_BOUNDS_SECONDS,
  LATENCY_BUCKET_RATIO,
  RollingWindow,
  StatusBoard,
  latencyBucket,
} from './status-board.js';

const A = 'http://127.0.0.1:9000';
const B = 'http://127.0.0.1:9001';

class FakeStatus implements ProxyStatusSource {
  ready = true;
  draining = false;
  demo: DemoControl | undefined = undefined;
  list: UpstreamStatus[] = [
    { name: A, healthy: true, breaker: 'closed', inFlight: 3 },
    { name: B, healthy: false, breaker: 'open', inFlight: 0 },
  ];
  upstreams(): readonly UpstreamStatus[] {
    return this.list;
  }
}

function finished(status: number, durationSeconds: number): FinishedRequest {
  return {
    method: 'GET',
    path: '/',
    status,
    durationSeconds,
    upstream: A,
    attempts: 1,
    clientIp: '127.0.0.1',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    bytesSent: 0,
    truncated: false,
  };
}

/** Nearest-rank percentile of the exact values. */
function exactPercentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

describe('latencyBucket', () => {
  test.prop([fc.double({ min: 0, max: 1000, noNaN: true })])(
    'puts a value in the bucket whose bounds hold it',
    (v) => {
      const i = latencyBucket(v);
      const upper = LATENCY_BOUNDS_SECONDS[i] ?? Number.POSITIVE_INFINITY;
      const lower = i === 0 ? Number.NEGATIVE_INFINITY : LATENCY_BOUNDS_SECONDS[i - 1]!;
      expect(v).toBeLessThanOrEqual(upper);
      expect(v).toBeGreaterThan(lower);
    },
  );

  it('puts huge, infinite, negative and NaN values in the end buckets', () => {
    const last = LATENCY_BOUNDS_SECONDS.length;
    expect(latencyBucket(1e300)).toBe(last);
    expect(latencyBucket(Number.POSITIVE_INFINITY)).toBe(last);
    expect(latencyBucket(-1)).toBe(0);
    expect(latencyBucket(Number.NaN)).toBe(0);
  });

  it('is exact on the bounds themselves', () => {
    LATENCY_BOUNDS_SECONDS.forEach((bound, i) => {
      expect(latencyBucket(bound)).toBe(i);
    });
  });
});

describe('RollingWindow', () => {
  it('forgets events once they leave the window', () => {
    const clock = new VirtualClock();
    const window = new RollingWindow(10, 1000, clock);
    clock.advance(500);
    window.record(0.01, false);
    window.record(0.02, true);
    clock.advance(9_499); // t = 9999: the bucket of t = 500 is the oldest still in the window
    expect(window.stats()).toMatchObject({ requests: 2, errors: 1, errorRate: 0.5 });
    clock.advance(1); // t = 10000: it has rolled out
    expect(window.stats()).toEqual({
      requests: 0,
      errors: 0,
      requestsPerSecond: 0,
      errorRate: 0,
      p50Seconds: null,
      p99Seconds: null,
    });
  });

  it('reports the rate over the covered time', () => {
    const clock = new VirtualClock();
    const window = new RollingWindow(10, 1000, clock);
    for (let i = 0; i < 40; i++) {
      clock.advance(250);
      window.record(0.001, false);
    }
    // t = 10000: the ten buckets are [1000, 11000), so the window covers 9 s and holds the 37
    // requests from t = 1000 to t = 10000.
    expect(window.stats().requests).toBe(37);
    expect(window.stats().requestsPerSecond).toBeCloseTo(37 / 9, 9);
  });

  const event = fc.record({
    advanceMs: fc.integer({ min: 0, max: 2_500 }),
    seconds: fc.oneof(
      fc.double({ min: 0, max: 0.05, noNaN: true }),
      fc.double({ min: 0, max: 200, noNaN: true }),
    ),
    failed: fc.boolean(),
  });

  test.prop([fc.array(event, { maxLength: 400 }), fc.integer({ min: 1, max: 12 })], {
    numRuns: 300,
  })(
    'matches a reference model: counts exact, percentiles within one bucket above the truth',
    (events, slots) => {
      const clock = new VirtualClock(1_000_000);
      const window = new RollingWindow(slots, 1000, clock);
      const log: { at: number; seconds: number; failed: boolean }[] = [];
      for (const e of events) {
        clock.advance(e.advanceMs);
        window.record(e.seconds, e.failed);
        log.push({ at: clock.now(), seconds: e.seconds, failed: e.failed });
      }
      const epoch = Math.floor(clock.now() / 1000);
      const live = log.filter((e) => Math.floor(e.at / 1000) > epoch - slots);
      const stats = window.stats();
      expect(stats.requests).toBe(live.length);
      expect(stats.errors).toBe(live.filter((e) => e.failed).length);
      if (live.length === 0) {
        expect(stats.p50Seconds).toBeNull();
        expect(stats.p99Seconds).toBeNull();
        return;
      }
      const max = Math.max(...live.map((e) => e.seconds));
      for (const [q, estimate] of [
        [0.5, stats.p50Seconds],
        [0.99, stats.p99Seconds],
      ] as const) {
        const exact = exactPercentile(
          live.map((e) => e.seconds),
          q,
        );
        const upper = LATENCY_BOUNDS_SECONDS[latencyBucket(exact)] ?? max;
        expect(estimate).not.toBeNull();
        expect(estimate!).toBeGreaterThanOrEqual(exact);
        expect(estimate!).toBeLessThanOrEqual(Math.min(upper, max));
        if (exact > LATENCY_BOUNDS_SECONDS[0]! && exact <= LATENCY_BOUNDS_SECONDS.at(-1)!) {
          expect(estimate!).toBeLessThanOrEqual(exact * LATENCY_BUCKET_RATIO * (1 + 1e-9));
        }
      }
    },
  );
});

describe('StatusBoard', () => {
  it('validates windowSeconds', () => {
    expect(() => new StatusBoard({ status: new FakeStatus(), windowSeconds: 0 })).toThrow(
      /windowSeconds/,
    );
  });

  it('reports every upstream of the status in order, with empty windows before traffic', () => {
    const board = new StatusBoard({ status: new FakeStatus(), clock: new VirtualClock() });
    const report = board.report();
    expect(report).toMatchObject({ ready: true, draining: false, windowSeconds: 10 });
    expect(report.demo).toBeUndefined();
    expect(report.upstreams).toEqual([
      expect.objectContaining({
        name: A,
        healthy: true,
        breaker: 'closed',
        inFlight: 3,
        requests: 0,
        p99Seconds: null,
      }),
      expect.objectContaining({
        name: B,
        healthy: false,
        breaker: 'open',
        inFlight: 0,
        requests: 0,
      }),
    ]);
  });

  it('keeps a window per upstream from attempts and one for the proxy from answered requests', () => {
    const clock = new VirtualClock();
    const status = new FakeStatus();
    const board = new StatusBoard({ status, clock, windowSeconds: 6 });
    for (let i = 0; i < 10; i++) {
      clock.advance(500);
      board.upstreamAttempt({ upstream: A, status: 200, failed: false, durationSeconds: 0.01 });
      board.upstreamAttempt({ upstream: B, status: 0, failed: true, durationSeconds: 0.2 });
      board.retried(B);
      board.requestFinished(finished(200, 0.25));
    }
    board.requestFinished({ ...finished(200, 0.1), truncated: true });
    board.requestFinished(finished(502, 0.1));
    board.rateLimited();
    board.rateLimited();
    board.backpressureRejected();
    board.retryBudgetExhausted();
    const report = board.report();
    const [a, b] = report.upstreams;
    expect(a).toMatchObject({ requests: 10, errors: 0, errorRate: 0 });
    expect(a!.requestsPerSecond).toBeCloseTo(2, 6);
    expect(a!.p50Seconds).toBeCloseTo(0.01, 9);
    expect(b).toMatchObject({ requests: 10, errors: 10, errorRate: 1 });
    expect(b!.p99Seconds).toBeCloseTo(0.2, 9);
    expect(report.proxy).toMatchObject({
      requests: 12,
      errors: 2,
      rateLimited: 2,
      rateLimitedTotal: 2,
      backpressureRejected: 1,
      retries: 10,
      retryBudgetExhausted: 1,
    });
    expect(report.uptimeSeconds).toBe(5);

    clock.advance(6_000);
    status.draining = true;
    status.ready = false;
    const later = board.report();
    expect(later).toMatchObject({ ready: false, draining: true });
    expect(later.upstreams[0]).toMatchObject({ requests: 0, requestsPerSecond: 0 });
    expect(later.proxy).toMatchObject({
      requests: 0,
      rateLimited: 0,
      rateLimitedTotal: 2,
      retries: 0,
    });
  });

  it('leaves the proxy’s own endpoints out of the traffic, but not refusals or proxied paths', () => {
    const board = new StatusBoard({ status: new FakeStatus(), clock: new VirtualClock() });
    const local = { upstream: undefined, attempts: 0 };
    for (const path of ['/status.json', '/status', '/metrics', '/healthz', '/readyz']) {
      board.requestFinished({ ...finished(200, 0.001), ...local, path });
    }
    board.requestFinished({ ...finished(429, 0.001), ...local, path: '/api' });
    board.requestFinished({ ...finished(200, 0.001), path: '/status.json' });
    expect(board.report().proxy.requests).toBe(2);
  });

  it('includes the demo upstreams when the status has a demo control', () => {
    const status = new FakeStatus();
    let failing = false;
    status.demo = {
      upstreams: () => [
        { name: A, failing: false },
        { name: B, failing },
      ],
      setFailing: (_name, value) => {
        failing = value;
      },
    };
    const board = new StatusBoard({ status, clock: new VirtualClock() });
    expect(board.report().demo).toEqual({
      upstreams: [
        { name: A, failing: false },
        { name: B, failing: false },
      ],
    });
    status.demo.setFailing(B, true);
    expect(board.report().demo?.upstreams[1]).toEqual({ name: B, failing: true });
  });

  it('survives JSON round trips (what /status.json sends)', () => {
    const board = new StatusBoard({ status: new FakeStatus(), clock: new VirtualClock() });
    board.upstreamAttempt({ upstream: A, status: 200, failed: false, durationSeconds: 0.003 });
    const report = board.report();
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});
