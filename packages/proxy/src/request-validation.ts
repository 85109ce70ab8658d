/**
 * Why: a proxy and its upstream must agree on where each request ends, or one client's bytes
 * become another request upstream (request smuggling, RFC 9112 §6.3 and §11.2). Node's parser
 * already refuses most ambiguous framing (Content-Length with Transfer-Encoding, duplicate or
 * malformed Content-Length, chunked not last, obs-fold, bare CR or LF, CR/LF/NUL in values) and
 * answers 400 before any handler runs; this file refuses, at the head of the handler, what it lets
 * through and a proxy must not forward: a repeated Host, a Transfer-Encoding other than plain
 * `chunked` (a coding we would silently drop), Transfer-Encoding on HTTP/1.0, a request target that
 * is neither origin-form nor http(s) absolute-form with a valid authority (request-target.ts) or
 * that carries a fragment, an over-long URI (414) — the checks nginx and HAProxy make — and it checks
 * the parser's guarantees again so the proxy stays safe should a lenient parser ever be enabled.
 * `INGRESS_SERVER_OPTIONS` is the server side: strict parsing, header size (431), and timeouts
 * for slow headers and bodies (408).
 */
import type { IncomingMessage, ServerOptions } from 'node:http';
import { parseAbsoluteForm } from './request-target.js';

/** Longest request target accepted, in bytes; longer ones get 414 (nginx's default line buffer is 8 KiB). */
export const MAX_URI_LENGTH = 8_192;

/** Most header fields accepted in one request; more get 431 (HAProxy's default is 101). */
export const MAX_HEADER_COUNT = 100;

/** Largest request head (request line and headers) accepted, in bytes; larger ones get 431. */
export const MAX_HEADER_SIZE = 16_384;

/**
 * Options for the ingress `http.createServer`: strict parsing, 431 above
 * {@link MAX_HEADER_SIZE}, 408 when the head has not arrived within 20 s (slowloris) or the whole
 * request within 5 min, idle keep-alive connections closed after 5 s, and the timeouts checked
 * every second so that they fire on time.
 */
export const INGRESS_SERVER_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  insecureHTTPParser: false,
  // validateRequestHead checks Host itself: Node's own check answers 400 but then goes on to
  // dispatch the next pipelined request on that connection, which a proxy must not forward.
  requireHostHeader: false,
  maxHeaderSize: MAX_HEADER_SIZE,
  headersTimeout: 20_000,
  requestTimeout: 300_000,
  keepAliveTimeout: 5_000,
  connectionsCheckingInterval: 1_000,
  noDelay: true,
});

/** Why a request head was refused, and with which status. */
export interface RequestHeadRejection {
  /** 400 malformed, 414 URI too long, 431 header fields too large. */
  readonly status: 400 | 414 | 431;
  /** A short reason for logs; never sent with internal detail. */
  readonly reason: string;
}

const CONTENT_LENGTH = /^\d{1,15}$/;
/** A Host value (or absolute-form authority) this stage accepts: an IP literal or reg-name, and a port. */
export const HOST: RegExp = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::\d{0,5})?$/;

/**
 * Checks a request head before anything is forwarded. Returns the status to answer (then close the
 * connection) or `undefined` when the request may proceed. Once a head is refused, every later
 * request on the same connection is refused as well.
 */
export function validateRequestHead(req: IncomingMessage): RequestHeadRejection | undefined {
  const connection: unknown = req.socket;
  const refusable = typeof connection === 'object' && connection !== null;
  if (refusable && refusedConnections.has(connection)) {
    return { status: 400, reason: 'request after a refused one on the same connection' };
  }
  const rejection = checkHead(req);
  if (rejection !== undefined && refusable) refusedConnections.add(connection);
  return rejection;
}

/**
 * Connections on which a head was refused. Node's parser goes on reading pipelined requests while
 * the refusal is being written; they come from the same untrusted byte stream (often the smuggled
 * request itself), so every later request on such a connection is refused too.
 */
const refusedConnections = new WeakSet<object>();

function checkHead(req: IncomingMessage): RequestHeadRejection | undefined {
  const url = req.url ?? '';
  if (url.length > MAX_URI_LENGTH) {
    return { status: 414, reason: `request target longer than ${MAX_URI_LENGTH} bytes` };
  }
  // Neither form allows a fragment (RFC 9112 §3.2); a '#' in the path is how CVE-2023-45539
  // slipped requests past HAProxy's path rules, which now refuse it too.
  if (url.includes('#')) return { status: 400, reason: 'a fragment (#) in the request target' };
  if (!url.startsWith('/')) {
    const authority = parseAbsoluteForm(url)?.authority;
    if (authority === undefined || !HOST.test(authority)) {
      return {
        status: 400,
        reason: 'request target is neither origin-form nor http(s) absolute-form',
      };
    }
  }

  const raw = req.rawHeaders;
  if (raw.length / 2 > MAX_HEADER_COUNT) {
    return { status: 431, reason: `more than ${MAX_HEADER_COUNT} header fields` };
  }
  let hosts = 0;
  let host = '';
  let contentLengths = 0;
  let contentLength = '';
  let transferEncoding: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const value = raw[i + 1] ?? '';
    if (hasForbiddenChar(value)) {
      return { status: 400, reason: 'CR, LF or NUL in a header value' };
    }
    switch (name.toLowerCase()) {
      case 'host':
        hosts++;
        host = value;
        break;
      case 'content-length':
        contentLengths++;
        contentLength = value;
        break;
      case 'transfer-encoding':
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`;
        break;
      default:
        break;
    }
  }

  if (hosts > 1) return { status: 400, reason: 'more than one Host header' };
  const http11 =
    req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1);
  if (hosts === 0 && http11) return { status: 400, reason: 'missing Host header' };
  if (!HOST.test(host.trim())) return { status: 400, reason: 'invalid Host header' };

  if (transferEncoding !== undefined) {
    if (contentLengths > 0) {
      return { status: 400, reason: 'both Content-Length and Transfer-Encoding' };
    }
    if (!http11) return { status: 400, reason: 'Transfer-Encoding on HTTP/1.0' };
    if (transferEncoding.trim().toLowerCase() !== 'chunked') {
      return { status: 400, reason: 'Transfer-Encoding other than chunked' };
    }
  }
  if (contentLengths > 1) return { status: 400, reason: 'more than one Content-Length' };
  if (contentLengths === 1 && !CONTENT_LENGTH.test(contentLength.trim())) {
    return { status: 400, reason: 'invalid Content-Length' };
  }
  return undefined;
}

function hasForbiddenChar(value: string): boolean {
  return value.includes('\r') || value.includes('\n') || value.includes('\0');
}

const CLIENT_ERROR_RESPONSES: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

/**
 * The raw response a server's `clientError` handler should write for a parser or timeout error,
 * as Node's default handler does: 431 for oversized heads, 413 for oversized chunk extensions, 408
 * for the headers/request timeouts, 400 for everything else. Always `Connection: close`.
 */
export function clientErrorResponse(error: unknown): string {
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  const status = CLIENT_ERROR_RESPONSES[code] ?? '400 Bad Request';
  return `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`;
}
