// Why: the request-modifier stage, in the order RFC 9110 §7.6.1 requires: hop-by-hop headers
// (and every name the client listed in `Connection`) are removed first, then the proxy adds its
// own — Host rewritten to the upstream (the client's Host travels on in X-Forwarded-Host),
// X-Forwarded-For/Proto/Host and RFC 7239 Forwarded under the trusted-proxy policy, and the W3C
// `traceparent` naming this hop (the client's `tracestate` only travels with the trace it belongs to). Adding before stripping would let a client delete the proxy's
// headers by listing them in `Connection`.

import type { IncomingHttpHeaders } from 'node:http';
import type { ForwardingResult } from './forwarded-headers.js';
import { stripHopByHop } from './hop-by-hop.js';

/**
 * Builds the headers of the upstream request from the client's. The result is a new object
 * (`host` is set per attempt, since each attempt may go to another upstream).
 *
 * @param incoming the client's request headers
 * @param forwarding the forwarding headers computed for this request
 * @param traceparent the W3C traceparent for the upstream call
 * @param continuesTrace whether `traceparent` continues the client's trace; when it starts a new
 *   one (the client sent none, or an invalid one) the client's `tracestate` is dropped, as W3C
 *   Trace Context §3.3 requires, since it describes a trace the upstream will not see
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  forwarding: ForwardingResult['headers'],
  traceparent: string,
  continuesTrace = true,
): Record<string, string | string[]> {
  const headers = stripHopByHop(incoming);
  // Node's server has already answered `Expect: 100-continue` (and undici refuses the header):
  // the expectation was met on this hop.
  if (headers.expect !== undefined) delete headers.expect;
  if (!continuesTrace && headers.tracestate !== undefined) delete headers.tracestate;
  headers['x-forwarded-for'] = forwarding['x-forwarded-for'];
  headers['x-forwarded-proto'] = forwarding['x-forwarded-proto'];
  headers['x-forwarded-host'] = forwarding['x-forwarded-host'];
  headers.forwarded = forwarding.forwarded;
  headers.traceparent = traceparent;
  return headers;
}

/** Points `headers` at an upstream: `Host` becomes the upstream's authority. */
export function rewriteHost(headers: Record<string, string | string[]>, hostHeader: string): void {
  headers.host = hostHeader;
}
