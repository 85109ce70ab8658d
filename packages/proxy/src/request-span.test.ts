import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import {
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type SpanKind,
  type SpanOptions,
  type SpanStatus,
  type Tracer,
  type TracerProvider,
  SpanStatusCode,
  TraceFlags,
  context as contextApi,
  trace,
} from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy } from './proxy.js';
import { TRACER_NAME, startRequestSpan } from './request-span.js';
import { parseTraceparent } from './trace-context.js';

/** A span that remembers everything done to it: the smallest SDK the API accepts. */
class TestSpan implements Span {
  readonly attributes: Attributes;
  readonly events: { name: string; attributes: Attributes | undefined }[] = [];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  ended = 0;

  constructor(
    public name: string,
    readonly kind: SpanKind | undefined,
    readonly parent: SpanContext | undefined,
    readonly context: SpanContext,
    attributes: Attributes | undefined,
  ) {
    this.attributes = { ...attributes };
  }

  spanContext(): SpanContext {
    return this.context;
  }
  setAttribute(key: string, value: Attributes[string]): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributes?: unknown): this {
    this.events.push({ name, attributes: attributes as Attributes | undefined });
    return this;
  }
  addLink(_link: Link): this {
    return this;
  }
  addLinks(_links: Link[]): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(name: string): this {
    this.name = name;
    return this;
  }
  end(): void {
    this.ended++;
  }
  isRecording(): boolean {
    return (this.context.traceFlags & TraceFlags.SAMPLED) !== 0;
  }
  recordException(): void {}
}

class TestTracer implements Tracer {
  constructor(
    readonly spans: TestSpan[],
    readonly sample: boolean,
  ) {}

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = contextApi.active()): Span {
    const parent = trace.getSpanContext(ctx);
    const span = new TestSpan(
      name,
      options.kind,
      parent,
      {
        traceId: parent?.traceId ?? randomBytes(16).toString('hex'),
        spanId: randomBytes(8).toString('hex'),
        traceFlags: this.sample ? TraceFlags.SAMPLED : TraceFlags.NONE,
      },
      options.attributes,
    );
    this.spans.push(span);
    return span;
  }

  startActiveSpan(): never {
    throw new Error('not used by the proxy');
  }
}

function register(sample = true): { spans: TestSpan[]; names: string[] } {
  const spans: TestSpan[] = [];
  const names: string[] = [];
  const provider: TracerProvider = {
    getTracer(name: string) {
      names.push(name);
      return new TestTracer(spans, sample);
    },
  };
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  return { spans, names };
}

afterEach(() => {
  trace.disable();
});

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const input = {
  method: 'GET',
  path: '/users/7',
  parent: parseTraceparent(PARENT),
  clientIp: '203.0.113.9',
  scheme: 'http',
  host: 'example.test:8080',
  userAgent: 'curl/8',
};

describe('startRequestSpan without an SDK', () => {
  it('records nothing and propagates the trace with a span id of its own', () => {
    const span = startRequestSpan(input);
    expect(span.recording).toBe(false);
    expect(span.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span.parentSpanId).toBe('b7ad6b7169203331');
    expect(span.spanId).not.toBe('b7ad6b7169203331');
    expect(parseTraceparent(span.traceparent)).toEqual({
      version: '00',
      traceId: span.traceId,
      parentId: span.spanId,
      traceFlags: 1,
    });
    span.upstreamAttempt({ upstream: 'u', status: 200, failed: false, durationSeconds: 0.1 });
    span.end({ status: 200, upstream: 'u', attempts: 1, truncated: false });
  });

  it('starts a new trace when the request has none', () => {
    const span = startRequestSpan({ ...input, parent: undefined });
    expect(span.recording).toBe(false);
    expect(span.parentSpanId).toBeUndefined();
    expect(parseTraceparent(span.traceparent)?.traceId).toBe(span.traceId);
  });
});

describe('startRequestSpan with a registered TracerProvider', () => {
  it('records a SERVER span, child of the caller, whose id goes upstream', () => {
    const { spans, names } = register();
    const span = startRequestSpan(input);
    expect(names).toEqual([TRACER_NAME]);
    expect(spans).toHaveLength(1);
    const recorded = spans[0]!;
    expect(span.recording).toBe(true);
    expect(recorded.name).toBe('GET');
    expect(recorded.kind).toBe(1 /* SpanKind.SERVER */);
    expect(recorded.parent).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      isRemote: true,
    });
    expect(span.spanId).toBe(recorded.context.spanId);
    expect(span.traceparent).toBe(
      `00-0af7651916cd43dd8448eb211c80319c-${recorded.context.spanId}-01`,
    );
    expect(recorded.attributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/users/7',
      'url.scheme': 'http',
      'client.address': '203.0.113.9',
      'server.address': 'example.test',
      'server.port': 8080,
      'user_agent.original': 'curl/8',
    });

    span.upstreamAttempt({
      upstream: 'http://a',
      status: 503,
      failed: true,
      durationSeconds: 0.01,
    });
    span.upstreamAttempt({
      upstream: 'http://b',
      status: 200,
      failed: false,
      durationSeconds: 0.02,
    });
    span.end({ status: 200, upstream: 'http://b', attempts: 2, truncated: false });
    span.end({ status: 500, upstream: 'http://b', attempts: 2, truncated: false });
    expect(recorded.ended).toBe(1);
    expect(recorded.events.map((e) => [e.name, e.attributes?.['proxykit.upstream']])).toEqual([
      ['upstream.attempt', 'http://a'],
      ['upstream.attempt', 'http://b'],
    ]);
    expect(recorded.attributes).toMatchObject({
      'http.response.status_code': 200,
      'proxykit.attempts': 2,
      'proxykit.upstream': 'http://b',
    });
    expect(recorded.status.code).toBe(0);
  });

  it('marks 5xx answers and truncated responses as errors', () => {
    const { spans } = register();
    startRequestSpan(input).end({
      status: 502,
      upstream: undefined,
      attempts: 3,
      truncated: false,
    });
    startRequestSpan(input).end({ status: 200, upstream: 'u', attempts: 1, truncated: true });
    startRequestSpan(input).end({ status: 404, upstream: 'u', attempts: 1, truncated: false });
    expect(spans.map((s) => [s.status.code, s.attributes['error.type']])).toEqual([
      [2, '502'],
      [2, 'response_truncated'],
      [0, undefined],
    ]);
  });

  it('names unknown methods _OTHER, keeping the original', () => {
    const { spans } = register();
    startRequestSpan({ ...input, method: 'PURGE' });
    expect(spans[0]!.name).toBe('HTTP');
    expect(spans[0]!.attributes).toMatchObject({
      'http.request.method': '_OTHER',
      'http.request.method_original': 'PURGE',
    });
  });

  it('starts a root span with the SDK’s trace id when the request has no traceparent', () => {
    const { spans } = register();
    const span = startRequestSpan({ ...input, parent: undefined });
    expect(spans[0]!.parent).toBeUndefined();
    expect(span.traceId).toBe(spans[0]!.context.traceId);
    expect(span.traceparent).toBe(`00-${span.traceId}-${span.spanId}-01`);
  });

  it('follows the SDK’s sampling decision in the flags, keeping the other bits', () => {
    const { spans } = register(false);
    const span = startRequestSpan({
      ...input,
      parent: parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03'),
    });
    expect(span.recording).toBe(false);
    expect(span.spanId).toBe(spans[0]!.context.spanId);
    expect(span.traceparent.endsWith('-02')).toBe(true);
    span.upstreamAttempt({ upstream: 'u', status: 200, failed: false, durationSeconds: 0.1 });
    span.end({ status: 200, upstream: 'u', attempts: 1, truncated: false });
    expect(spans[0]!.events).toEqual([]);
    expect(spans[0]!.ended).toBe(1);
  });
});

describe('spans of a running proxy', () => {
  it('records one SERVER span per proxied request, whose id the upstream receives as parent', async () => {
    const seen: string[] = [];
    const upstream = createServer((req, res) => {
      seen.push(String(req.headers.traceparent));
      res.end('ok');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const port = (upstream.address() as { port: number }).port;
    const { spans } = register();
    const proxy = createProxy({
      upstreams: [`http://127.0.0.1:${String(port)}`],
      listen: { host: '127.0.0.1', port: 0 },
      healthCheck: false,
      logLevel: 'silent',
    });
    try {
      const { url } = await proxy.listen();
      const res = await fetch(`${url}/users/7?x=1`, { headers: { traceparent: PARENT } });
      expect(await res.text()).toBe('ok');
      await (await fetch(`${url}/healthz`)).text();
      await expect.poll(() => spans.filter((s) => s.ended > 0).length).toBe(1);
      const span = spans[0]!;
      expect(span.kind).toBe(1 /* SERVER */);
      expect(span.parent?.spanId).toBe('b7ad6b7169203331');
      expect(seen).toEqual([`00-0af7651916cd43dd8448eb211c80319c-${span.context.spanId}-01`]);
      expect(span.attributes).toMatchObject({
        'http.request.method': 'GET',
        'url.path': '/users/7',
        'client.address': '127.0.0.1',
        'http.response.status_code': 200,
        'proxykit.attempts': 1,
        'proxykit.upstream': `http://127.0.0.1:${String(port)}`,
      });
      expect(span.events.map((e) => e.name)).toEqual(['upstream.attempt']);
    } finally {
      await proxy.close();
      upstream.close();
      upstream.closeAllConnections();
    }
  });
});
