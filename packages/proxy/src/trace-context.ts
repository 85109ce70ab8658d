/**
 * Why: a request that crosses the proxy must stay one trace, so the proxy reads the W3C
 * `traceparent` header (Trace Context, https://www.w3.org/TR/trace-context/ §3.2), validates it
 * exactly as the specification says (lowercase hex only, version `ff` forbidden, version `00`
 * exactly 55 characters, later versions parsed by their `00` prefix, all-zero ids invalid), and
 * sends upstream a `traceparent` with the same trace id and flags but its own span id, as every
 * hop must. When the header is absent or invalid it starts a new trace, the way Envoy and nginx's
 * OpenTelemetry module do, so each access-log line carries a trace id an upstream can log too.
 */
import { randomFillSync } from 'node:crypto';

/** A parsed `traceparent` header. */
export interface TraceContext {
  /** Version field as received (`00` today; later versions are parsed by their `00` prefix). */
  readonly version: string;
  /** 32 lowercase hex characters, not all zero. */
  readonly traceId: string;
  /** The caller's span id (`parent-id`): 16 lowercase hex characters, not all zero. */
  readonly parentId: string;
  /** The 8 trace flag bits; bit 0 is `sampled`. */
  readonly traceFlags: number;
}

/** `sampled` bit of the trace flags. */
export const TRACE_FLAG_SAMPLED = 0x01;

/** Length of a version `00` `traceparent` value. */
export const TRACEPARENT_LENGTH = 55;

const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
const LOWER_HEX = /^[0-9a-f]*$/;

/**
 * Parses a `traceparent` header value; `undefined` when it is absent or invalid (the caller then
 * starts a new trace, and must also ignore `tracestate`, §3.3).
 */
export function parseTraceparent(value: string | undefined): TraceContext | undefined {
  if (value === undefined || value.length < TRACEPARENT_LENGTH) return undefined;
  const version = value.slice(0, 2);
  if (version === 'ff') return undefined;
  if (
    version === '00'
      ? value.length !== TRACEPARENT_LENGTH
      : value.length > TRACEPARENT_LENGTH && value[55] !== '-'
  ) {
    return undefined;
  }
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  const traceId = value.slice(3, 35);
  const parentId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (
    !LOWER_HEX.test(version) ||
    !LOWER_HEX.test(traceId) ||
    !LOWER_HEX.test(parentId) ||
    !LOWER_HEX.test(flags)
  ) {
    return undefined;
  }
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return undefined;
  return { version, traceId, parentId, traceFlags: Number.parseInt(flags, 16) };
}

/** Formats a version `00` `traceparent` value. */
export function formatTraceparent(traceId: string, spanId: string, traceFlags: number): string {
  return `00-${traceId}-${spanId}-${FLAGS_HEX[traceFlags & 0xff] ?? '00'}`;
}

/** The two hex digits of every flags byte, so that formatting a traceparent builds no number text. */
const FLAGS_HEX: readonly string[] = Array.from({ length: 256 }, (_, flags) =>
  flags.toString(16).padStart(2, '0'),
);

// Ids come from a pool of random bytes refilled 4 KiB at a time: one system call per ~170
// requests instead of one per id.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

function randomHex(bytes: number): string {
  for (;;) {
    if (poolOffset + bytes > POOL_SIZE) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
    poolOffset += bytes;
    // An all-zero id is invalid (§3.2.2.3, §3.2.2.4); draw again in that (2^-64) case.
    if (hex !== ZERO_TRACE_ID && hex !== ZERO_SPAN_ID) return hex;
  }
}

/** A new trace id and span id from one draw of the pool (one hex conversion instead of two). */
function randomTraceAndSpanIds(): { readonly traceId: string; readonly spanId: string } {
  if (poolOffset + 24 > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + 24);
  poolOffset += 24;
  const traceId = hex.slice(0, 32);
  const spanId = hex.slice(32);
  return {
    traceId: traceId === ZERO_TRACE_ID ? randomTraceId() : traceId,
    spanId: spanId === ZERO_SPAN_ID ? randomSpanId() : spanId,
  };
}

/** A new random trace id: 32 lowercase hex characters, never all zero. */
export function randomTraceId(): string {
  return randomHex(16);
}

/** A new random span id: 16 lowercase hex characters, never all zero. */
export function randomSpanId(): string {
  return randomHex(8);
}

/** The trace context of one hop through the proxy. */
export interface NextTraceparent {
  /** The `traceparent` to send upstream. */
  readonly traceparent: string;
  /** Trace id: the caller's, or a new one. */
  readonly traceId: string;
  /** The proxy's span id for this request, sent upstream as `parent-id`. */
  readonly spanId: string;
  /** The caller's span id, `undefined` when the proxy started the trace. */
  readonly parentSpanId: string | undefined;
  /** Trace flags sent upstream: the caller's, unchanged, or `01` for a new trace. */
  readonly traceFlags: number;
}

/**
 * The `traceparent` for the next hop: the parent's trace id and flags with a new span id, or a new
 * trace when there is no (valid) parent. A new trace is marked sampled (`01`), so upstreams that
 * sample by their parent record it; pass `spanId` (and `traceFlags`) when a tracer already chose
 * them for this request's span.
 */
export function nextTraceparent(
  parent: TraceContext | undefined,
  ids?: { readonly spanId?: string; readonly traceFlags?: number },
): NextTraceparent {
  let traceId: string;
  let spanId: string;
  if (parent === undefined && ids?.spanId === undefined) {
    ({ traceId, spanId } = randomTraceAndSpanIds());
  } else {
    traceId = parent?.traceId ?? randomTraceId();
    spanId = ids?.spanId ?? randomSpanId();
  }
  const traceFlags = ids?.traceFlags ?? parent?.traceFlags ?? TRACE_FLAG_SAMPLED;
  return {
    traceparent: formatTraceparent(traceId, spanId, traceFlags),
    traceId,
    spanId,
    parentSpanId: parent?.parentId,
    traceFlags,
  };
}
