/**
 * Why: users who run an OpenTelemetry SDK want the proxy hop in their traces. The proxy depends
 * only on `@opentelemetry/api`, never on an SDK, exactly as OpenTelemetry asks of libraries: with
 * no SDK registered the API's tracer is a no-op, the proxy records nothing and just propagates
 * `traceparent` with a span id of its own; once the user registers a TracerProvider, each request
 * becomes a SERVER span (HTTP semantic conventions: `http.request.method`, `url.path`,
 * `http.response.status_code`, `error.type`…), a child of the caller's `traceparent`, with one event
 * per upstream attempt, and the upstream receives that span as its parent.
 */
import {
  type Attributes,
  ProxyTracer,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { KNOWN_METHODS } from './proxy-metrics.js';
import type { UpstreamAttempt } from './proxy-observer.js';
import {
  type NextTraceparent,
  type TraceContext,
  formatTraceparent,
  nextTraceparent,
} from './trace-context.js';

/** Instrumentation scope name of the proxy's tracer. */
export const TRACER_NAME = '@proxykit/proxy';

/** What {@link startRequestSpan} needs to know about a request. */
export interface RequestSpanInput {
  /** Request method as received. */
  readonly method: string;
  /** Request path without the query. */
  readonly path: string;
  /** The caller's trace context (`parseTraceparent(req.headers.traceparent)`). */
  readonly parent: TraceContext | undefined;
  /** Client address after the trusted-proxy policy. */
  readonly clientIp: string;
  /** Scheme the client used (`x-forwarded-proto` as the proxy computed it). */
  readonly scheme?: string | undefined;
  /** Host the client asked for (its `Host` header). */
  readonly host?: string | undefined;
  /** The client's `User-Agent`. */
  readonly userAgent?: string | undefined;
}

/** How a request ended, for {@link RequestSpan.end}. */
export interface RequestSpanResult {
  /** Status sent to the client. */
  readonly status: number;
  /** Upstream that produced the final response, if any. */
  readonly upstream: string | undefined;
  /** Upstream attempts made. */
  readonly attempts: number;
  /** True when the response was cut short. */
  readonly truncated: boolean;
}

/** The span of one request, recording or not. */
export interface RequestSpan extends NextTraceparent {
  /** True when an SDK records this span (false with the API's no-op tracer or when not sampled). */
  readonly recording: boolean;
  /** Adds an `upstream.attempt` event for one attempt. */
  upstreamAttempt(attempt: UpstreamAttempt): void;
  /** Ends the span with the response's status; later calls are ignored. */
  end(result: RequestSpanResult): void;
}

const KNOWN_METHOD_SET = new Set(KNOWN_METHODS);

/** Semantic-convention attributes of the request, known when it starts. */
function requestAttributes(input: RequestSpanInput): Attributes {
  const known = KNOWN_METHOD_SET.has(input.method);
  const attributes: Attributes = {
    'http.request.method': known ? input.method : '_OTHER',
    'url.path': input.path,
    'client.address': input.clientIp,
  };
  if (!known) attributes['http.request.method_original'] = input.method;
  if (input.scheme !== undefined) attributes['url.scheme'] = input.scheme;
  if (input.userAgent !== undefined) attributes['user_agent.original'] = input.userAgent;
  if (input.host !== undefined) {
    const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(input.host);
    if (match?.[1] !== undefined) attributes['server.address'] = match[1];
    if (match?.[2] !== undefined) attributes['server.port'] = Number(match[2]);
  }
  return attributes;
}

class SdkRequestSpan implements RequestSpan {
  readonly recording: boolean;
  readonly traceparent: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly traceFlags: number;
  readonly #span: Span;
  #ended = false;

  constructor(span: Span, next: NextTraceparent) {
    this.#span = span;
    this.recording = span.isRecording();
    this.traceparent = next.traceparent;
    this.traceId = next.traceId;
    this.spanId = next.spanId;
    this.parentSpanId = next.parentSpanId;
    this.traceFlags = next.traceFlags;
  }

  upstreamAttempt(attempt: UpstreamAttempt): void {
    if (this.#ended || !this.recording) return;
    this.#span.addEvent('upstream.attempt', {
      'proxykit.upstream': attempt.upstream,
      'http.response.status_code': attempt.status,
      'proxykit.attempt.failed': attempt.failed,
      'proxykit.attempt.duration_s': attempt.durationSeconds,
    });
  }

  end(result: RequestSpanResult): void {
    if (this.#ended) return;
    this.#ended = true;
    const span = this.#span;
    if (this.recording) {
      span.setAttribute('http.response.status_code', result.status);
      span.setAttribute('proxykit.attempts', result.attempts);
      if (result.upstream !== undefined) span.setAttribute('proxykit.upstream', result.upstream);
      if (result.status >= 500) {
        span.setAttribute('error.type', String(result.status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      } else if (result.truncated) {
        span.setAttribute('error.type', 'response_truncated');
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'response truncated' });
      }
    }
    span.end();
  }
}

/** A request span when no SDK records: only the propagated ids. */
class PropagatingRequestSpan implements RequestSpan {
  readonly recording = false;
  readonly traceparent: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly traceFlags: number;

  constructor(next: NextTraceparent) {
    this.traceparent = next.traceparent;
    this.traceId = next.traceId;
    this.spanId = next.spanId;
    this.parentSpanId = next.parentSpanId;
    this.traceFlags = next.traceFlags;
  }

  upstreamAttempt(): void {
    // Nothing records.
  }

  end(): void {
    // Nothing records.
  }
}

/**
 * Starts the span of one request through the global OpenTelemetry tracer (`@opentelemetry/api`)
 * as a child of `input.parent`, and returns the `traceparent` to send upstream. Without a
 * registered SDK nothing is recorded and the ids come from {@link nextTraceparent}: the caller's
 * trace id and flags (or a new trace) and a new span id.
 */
export function startRequestSpan(input: RequestSpanInput): RequestSpan {
  const parent = input.parent;
  const tracer = trace.getTracer(TRACER_NAME);
  // With no SDK registered the API hands out a ProxyTracer with nothing behind it: skip building
  // attributes and contexts nobody reads. (A provider registered through another copy of the API
  // takes the general path below, which reaches the same answer.)
  if (tracer instanceof ProxyTracer) return new PropagatingRequestSpan(nextTraceparent(parent));
  const parentContext =
    parent === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, {
          traceId: parent.traceId,
          spanId: parent.parentId,
          traceFlags: parent.traceFlags,
          isRemote: true,
        });
  const method = KNOWN_METHOD_SET.has(input.method) ? input.method : 'HTTP';
  const span = tracer.startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: requestAttributes(input) },
    parentContext,
  );
  const context = span.spanContext();
  // The API's no-op tracer hands back the parent's context (or an invalid one): no SDK is there
  // to pick a span id, so the proxy picks its own for the next hop.
  if (!isSpanContextValid(context) || context.spanId === parent?.parentId) {
    span.end();
    return new PropagatingRequestSpan(nextTraceparent(parent));
  }
  // The SDK chose the span id and the sampling decision; other flag bits pass through unchanged.
  const traceFlags =
    parent === undefined
      ? context.traceFlags
      : (parent.traceFlags & ~TraceFlags.SAMPLED) | (context.traceFlags & TraceFlags.SAMPLED);
  return new SdkRequestSpan(span, {
    traceparent: formatTraceparent(context.traceId, context.spanId, traceFlags),
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: parent?.parentId,
    traceFlags,
  });
}
