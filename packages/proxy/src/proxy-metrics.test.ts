import { fc, test } from '@fast-check/vitest';
import { AggregatorRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { FinishedRequest, ProxyStatusSource, UpstreamStatus } from './proxy-observer.js';
import { ProxyMetrics, methodLabel, statusClass } from './proxy-metrics.js';

interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

/** A strict reader of the Prometheus text format (0.0.4): fails on any line it does not understand. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) continue;
    if (line.startsWith('# TYPE ')) {
      const [, , name, type] = line.split(' ');
      types.set(name!, type!);
      continue;
    }
    const match = sampleLine.exec(line);
    if (match === null) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    labelPair.lastIndex = 0;
    let consumed = 0;
    for (let pair = labelPair.exec(body); pair !== null; pair = labelPair.exec(body)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed = labelPair.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels in: ${line}`);
    const value = Number(match[3]);
    if (Number.isNaN(value) && match[3]?.toLowerCase() !== 'nan')
      throw new Error(`bad value in: ${line}`);
    samples.push({ name: match[1]!, labels, value });
  }
  return { samples, types };
}

function find(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

function value(
  samples: readonly Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = find(samples, name, labels);
  if (found.length !== 1)
    throw new Error(`${String(found.length)} samples for ${name} ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

class FakeStatus implements ProxyStatusSource {
  ready = true;
  draining = false;
  list: UpstreamStatus[] = [
    { name: 'http://127.0.0.1:9000', healthy: true, breaker: 'closed', inFlight: 2 },
    { name: 'http://127.0.0.1:9001', healthy: false, breaker: 'open', inFlight: 1 },
  ];
  upstreams(): readonly UpstreamStatus[] {
    return this.list;
  }
}

function finished(overrides: Partial<FinishedRequest> = {}): FinishedRequest {
  return {
    method: 'GET',
    path: '/users/123',
    status: 200,
    durationSeconds: 0.004,
    upstream: 'http://127.0.0.1:9000',
    attempts: 1,
    clientIp: '127.0.0.1',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    bytesSent: 10,
    truncated: false,
    ...overrides,
  };
}

describe('labels', () => {
  it('keeps standard methods and folds the rest into OTHER', () => {
    expect(methodLabel('GET')).toBe('GET');
    expect(methodLabel('PATCH')).toBe('PATCH');
    expect(methodLabel('get')).toBe('OTHER');
    expect(methodLabel('PROPFIND')).toBe('OTHER');
  });

  it('classes statuses', () => {
    expect(statusClass(200)).toBe('2xx');
    expect(statusClass(502)).toBe('5xx');
    expect(statusClass(101)).toBe('1xx');
    expect(statusClass(0)).toBe('none');
    expect(statusClass(600)).toBe('none');
  });
});

describe('ProxyMetrics', () => {
  it('renders the seed metrics with normalised labels, parsable by Prometheus', async () => {
    const metrics = new ProxyMetrics({ status: new FakeStatus(), processMetrics: false });
    metrics.requestFinished(finished({ status: 502, path: '/users/1', durationSeconds: 0.006 }));
    metrics.requestFinished(finished({ status: 502, path: '/users/2', durationSeconds: 0.006 }));
    metrics.requestFinished(
      finished({ method: 'GET', path: '/metrics', status: 200, upstream: undefined, attempts: 0 }),
    );
    metrics.requestFinished(finished({ method: 'BREW', path: '/pot', status: 418 }));
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseExposition(await metrics.render());
    expect(types.get('requests_total')).toBe('counter');
    expect(types.get('request_latency_seconds')).toBe('histogram');
    expect(
      value(samples, 'requests_total', {
        method: 'GET',
        path: '/users/:id',
        status: '502',
        status_class: '5xx',
      }),
    ).toBe(2);
    expect(
      value(samples, 'requests_total', { path: '/metrics', status: '200', status_class: '2xx' }),
    ).toBe(1);
    expect(value(samples, 'requests_total', { method: 'OTHER', path: '/pot', status: '418' })).toBe(
      1,
    );
    expect(find(samples, 'requests_total')).toHaveLength(3);
    expect(value(samples, 'request_latency_seconds_count', { path: '/users/:id' })).toBe(2);
    expect(value(samples, 'request_latency_seconds_sum', { path: '/users/:id' })).toBeCloseTo(
      0.012,
      9,
    );
    expect(
      value(samples, 'request_latency_seconds_bucket', { path: '/users/:id', le: '0.005' }),
    ).toBe(0);
    expect(
      value(samples, 'request_latency_seconds_bucket', { path: '/users/:id', le: '0.01' }),
    ).toBe(2);
    expect(
      value(samples, 'request_latency_seconds_bucket', { path: '/users/:id', le: '+Inf' }),
    ).toBe(2);
    expect(find(samples, 'process_cpu_user_seconds_total')).toHaveLength(0);
  });

  it('exports per-upstream attempts, errors and latency', async () => {
    const metrics = new ProxyMetrics({ status: new FakeStatus(), processMetrics: false });
    const a = 'http://127.0.0.1:9000';
    const b = 'http://127.0.0.1:9001';
    metrics.upstreamAttempt({ upstream: a, status: 200, failed: false, durationSeconds: 0.002 });
    metrics.upstreamAttempt({ upstream: a, status: 200, failed: false, durationSeconds: 0.002 });
    metrics.upstreamAttempt({ upstream: b, status: 503, failed: true, durationSeconds: 0.001 });
    metrics.upstreamAttempt({ upstream: b, status: 0, failed: true, durationSeconds: 0.1 });
    metrics.retried(b);
    const { samples } = parseExposition(await metrics.render());
    expect(value(samples, 'upstream_requests_total', { upstream: a, status_class: '2xx' })).toBe(2);
    expect(value(samples, 'upstream_requests_total', { upstream: b, status_class: '5xx' })).toBe(1);
    expect(value(samples, 'upstream_requests_total', { upstream: b, status_class: 'none' })).toBe(
      1,
    );
    expect(value(samples, 'upstream_errors_total', { upstream: a })).toBe(0);
    expect(value(samples, 'upstream_errors_total', { upstream: b })).toBe(2);
    expect(value(samples, 'upstream_latency_seconds_count', { upstream: b })).toBe(2);
    expect(value(samples, 'retries_total', { upstream: b })).toBe(1);
  });

  it('reads health, breaker state and in-flight from the live status at scrape time', async () => {
    const status = new FakeStatus();
    const metrics = new ProxyMetrics({ status, processMetrics: false });
    const a = 'http://127.0.0.1:9000';
    const b = 'http://127.0.0.1:9001';
    let { samples } = parseExposition(await metrics.render());
    expect(value(samples, 'upstream_healthy', { upstream: a })).toBe(1);
    expect(value(samples, 'upstream_healthy', { upstream: b })).toBe(0);
    expect(value(samples, 'upstream_breaker_state', { upstream: b, state: 'open' })).toBe(1);
    expect(value(samples, 'upstream_breaker_state', { upstream: b, state: 'closed' })).toBe(0);
    expect(value(samples, 'upstream_breaker_state', { upstream: a, state: 'closed' })).toBe(1);
    expect(find(samples, 'upstream_breaker_state', { upstream: a })).toHaveLength(4);
    expect(value(samples, 'upstream_in_flight', { upstream: a })).toBe(2);
    expect(value(samples, 'in_flight_requests')).toBe(3);
    expect(value(samples, 'proxy_ready')).toBe(1);
    expect(value(samples, 'proxy_draining')).toBe(0);

    status.list = [
      { name: a, healthy: true, breaker: 'half-open', inFlight: 0 },
      { name: b, healthy: true, breaker: 'closed', inFlight: 0 },
    ];
    status.ready = false;
    status.draining = true;
    ({ samples } = parseExposition(await metrics.render()));
    expect(value(samples, 'upstream_healthy', { upstream: b })).toBe(1);
    expect(value(samples, 'upstream_breaker_state', { upstream: a, state: 'half-open' })).toBe(1);
    expect(value(samples, 'upstream_breaker_state', { upstream: a, state: 'closed' })).toBe(0);
    expect(value(samples, 'in_flight_requests')).toBe(0);
    expect(value(samples, 'proxy_ready')).toBe(0);
    expect(value(samples, 'proxy_draining')).toBe(1);
  });

  it("reports the source's own in-flight count, what maxInFlight limits, when it has one", async () => {
    const status = Object.assign(new FakeStatus(), { inFlight: 7 });
    const metrics = new ProxyMetrics({ status, processMetrics: false });
    const { samples } = parseExposition(await metrics.render());
    expect(value(samples, 'in_flight_requests')).toBe(7);
    expect(value(samples, 'upstream_in_flight', { upstream: 'http://127.0.0.1:9000' })).toBe(2);
  });

  it('counts retries refused by the budget, rate-limit and backpressure rejections', async () => {
    const metrics = new ProxyMetrics({ status: new FakeStatus(), processMetrics: false });
    metrics.requestStarted();
    metrics.retryBudgetExhausted();
    metrics.rateLimited();
    metrics.rateLimited();
    metrics.backpressureRejected();
    const { samples } = parseExposition(await metrics.render());
    expect(value(samples, 'retry_budget_exhausted_total')).toBe(1);
    expect(value(samples, 'rate_limited_total')).toBe(2);
    expect(value(samples, 'backpressure_rejected_total')).toBe(1);
  });

  it('escapes hostile upstream names in label values', async () => {
    const status = new FakeStatus();
    status.list = [{ name: 'http://x/"\n\\', healthy: true, breaker: 'closed', inFlight: 0 }];
    const metrics = new ProxyMetrics({ status, processMetrics: false });
    const { samples } = parseExposition(await metrics.render());
    expect(value(samples, 'upstream_healthy', { upstream: 'http://x/"\n\\' })).toBe(1);
  });

  it('uses its own registry, so two proxies in one process do not collide', async () => {
    const one = new ProxyMetrics({ status: new FakeStatus(), processMetrics: false });
    const two = new ProxyMetrics({ status: new FakeStatus() });
    one.rateLimited();
    expect(value(parseExposition(await two.render()).samples, 'rate_limited_total')).toBe(0);
    expect(
      find(parseExposition(await two.render()).samples, 'process_cpu_user_seconds_total'),
    ).toHaveLength(1);
  });

  it('exports JSON that prom-client aggregates across cluster workers', async () => {
    const workers = [1, 2].map(
      () => new ProxyMetrics({ status: new FakeStatus(), processMetrics: false }),
    );
    for (const worker of workers) {
      worker.requestFinished(finished({ path: '/users/9', durationSeconds: 0.002 }));
      worker.upstreamAttempt({
        upstream: 'http://127.0.0.1:9000',
        status: 200,
        failed: false,
        durationSeconds: 0.001,
      });
    }
    const merged = AggregatorRegistry.aggregate(
      await Promise.all(workers.map((w) => w.registry.getMetricsAsJSON())),
    );
    const { samples } = parseExposition(await merged.metrics());
    expect(value(samples, 'requests_total', { path: '/users/:id', status: '200' })).toBe(2);
    expect(
      value(samples, 'request_latency_seconds_bucket', { path: '/users/:id', le: '0.0025' }),
    ).toBe(2);
    expect(value(samples, 'request_latency_seconds_count', { path: '/users/:id' })).toBe(2);
    expect(value(samples, 'upstream_requests_total', { status_class: '2xx' })).toBe(2);
  });

  it('validates maxPathLabels', () => {
    expect(() => new ProxyMetrics({ status: new FakeStatus(), maxPathLabels: 0 })).toThrow(
      /maxLabels/,
    );
  });

  test.prop([fc.array(fc.webPath(), { maxLength: 200 }), fc.integer({ min: 1, max: 30 })], {
    numRuns: 30,
  })('never exports more path label values than the cap', async (paths, maxPathLabels) => {
    const metrics = new ProxyMetrics({
      status: new FakeStatus(),
      maxPathLabels,
      processMetrics: false,
    });
    for (const path of paths) metrics.requestFinished(finished({ path }));
    const { samples } = parseExposition(await metrics.render());
    const labels = new Set(find(samples, 'requests_total').map((s) => s.labels.path));
    expect(labels.size).toBeLessThanOrEqual(maxPathLabels);
    expect(find(samples, 'requests_total').reduce((n, s) => n + s.value, 0)).toBe(paths.length);
  });
});
