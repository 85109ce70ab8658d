// Why: the response-modifier stage. What the upstream says about its own connection (hop-by-hop
// headers, names listed in `Connection`) must not reach the client, whose connection is the
// proxy's; debug headers naming the upstream and the attempt count are added only when the
// operator asked for them (`REVERSE_PROXY_EXPOSE_DEBUG_HEADERS`), since they reveal topology.
// Errors the proxy answers itself carry a fixed text and never the internal error.

import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { stripHopByHop } from './hop-by-hop.js';

/** Names the chosen upstream, when debug headers are on. */
export const UPSTREAM_DEBUG_HEADER = 'x-proxykit-upstream';
/** Counts the attempts made, when debug headers are on. */
export const ATTEMPTS_DEBUG_HEADER = 'x-proxykit-attempts';

/**
 * Builds the client response headers from the upstream's.
 *
 * @param debug `{ upstream, attempts }` to add the debug headers, `undefined` for none
 */
export function clientResponseHeaders(
  upstreamHeaders: IncomingHttpHeaders,
  debug: { readonly upstream: string; readonly attempts: number } | undefined,
): Record<string, string | string[]> {
  const headers = stripHopByHop(upstreamHeaders);
  if (debug !== undefined) {
    headers[UPSTREAM_DEBUG_HEADER] = debug.upstream;
    headers[ATTEMPTS_DEBUG_HEADER] = String(debug.attempts);
  }
  return headers;
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * Answers with an error the proxy produced itself: the status, a fixed one-line text body and
 * `extra` headers (e.g. `Retry-After`, `Connection: close`). Does nothing when headers were sent.
 */
export function sendProxyError(
  res: ServerResponse,
  status: number,
  extra?: Readonly<Record<string, string>>,
): void {
  if (res.headersSent || res.destroyed) return;
  const body = `${REASONS[status] ?? 'Error'}\n`;
  // Set apart so that the access log can read it back (its body byte count).
  res.setHeader('content-length', Buffer.byteLength(body));
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
