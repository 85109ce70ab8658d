// Why: the request-modifier stage, in the order RFC 9110 §7.6.1 requires: hop-by-hop headers
// (and every name the client listed in `Connection`) are removed first, then the proxy adds its
// own — Host rewritten to the upstream (the client's Host travels on in X-Forwarded-Host),
// X-Forwarded-For/Proto/Host and RFC 7239 Forwarded under the trusted-proxy policy, and the W3C
// `traceparent` naming this hop. Adding before stripping would let a client delete the proxy's
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
 */
export function upstreamRequestHeaders(
  incoming: IncomingHttpHeaders,
  forwarding: ForwardingResult['headers'],
  traceparent: string,
): Record<string, string | string[]> {
  const headers = stripHopByHop(incoming);
  // Node's server has already answered `Expect: 100-continue` (and undici refuses the header):
  // the expectation was met on this hop.
  delete headers.expect;
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
