/**
 * Why: the upstream wants to know who the client is, how it connected and which host it asked
 * for, and a client must not be able to lie about it. The proxy writes `X-Forwarded-For`,
 * `X-Forwarded-Proto`, `X-Forwarded-Host` and RFC 7239 `Forwarded` itself. From a peer that is not
 * a trusted proxy every incoming value is discarded and replaced; from a trusted proxy the chain is
 * kept and this hop appended. The client IP (for rate limits and logs) is the rightmost address of
 * the chain that is not a trusted proxy — nginx's `real_ip_recursive on`, Envoy's
 * `xff_num_trusted_hops` by address. The chain is read from `X-Forwarded-For` when present (what
 * nginx, HAProxy and cloud load balancers write), else from `Forwarded`'s `for=` parameters.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseIp, type TrustedProxies } from './trusted-proxies.js';

/** What {@link forwardingHeaders} needs to know about one request. */
export interface ForwardingInput {
  /** The TCP peer's address (`socket.remoteAddress`). */
  readonly peerAddress: string;
  /** The request headers as received (already stripped of hop-by-hop names or not: only the forwarding ones are read). */
  readonly headers: IncomingHttpHeaders;
  /** Whether the client connection is TLS (`https` in `X-Forwarded-Proto` and `Forwarded`). */
  readonly encrypted: boolean;
  /** The trusted-proxy policy. */
  readonly trusted: TrustedProxies;
}

/** The forwarding headers to send upstream, replacing any incoming ones, and the client address. */
export interface ForwardingResult {
  /** The rightmost address of the chain that is not a trusted proxy (IPv4-mapped IPv6 written as IPv4). */
  readonly clientIp: string;
  /** The headers to set on the upstream request. */
  readonly headers: {
    /** The address chain, this hop's peer last. */
    readonly 'x-forwarded-for': string;
    /** `http` or `https` as the client used it (kept from a trusted proxy). */
    readonly 'x-forwarded-proto': string;
    /** The Host the client asked for (kept from a trusted proxy). */
    readonly 'x-forwarded-host': string;
    /** RFC 7239 elements, this hop's `for=…;host=…;proto=…` last. */
    readonly forwarded: string;
  };
}

/** RFC 9110 token characters: a `Forwarded` value made only of these needs no quotes. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The last answer for an untrusted peer, which depends on nothing but the key kept with it. */
interface UntrustedAnswer {
  readonly peerAddress: string;
  readonly host: string;
  readonly encrypted: boolean;
  readonly trusted: TrustedProxies;
  readonly result: ForwardingResult;
}

// Requests on one keep-alive connection (and most clients) repeat the same peer and Host: the
// answer for an untrusted peer is kept and handed out again (it is frozen), which spares parsing
// the address, the trust check and building the strings on every request.
let lastUntrusted: UntrustedAnswer | undefined;

/**
 * Computes the forwarding headers and the client address for one request under the trusted-proxy
 * policy. Reads only its input; the (frozen) answer for an untrusted peer is handed out again while
 * the peer, Host, scheme and policy repeat.
 */
export function forwardingHeaders(input: ForwardingInput): ForwardingResult {
  const { headers, trusted } = input;
  const host = first(headers.host) ?? '';
  const last = lastUntrusted;
  if (
    last !== undefined &&
    last.peerAddress === input.peerAddress &&
    last.host === host &&
    last.encrypted === input.encrypted &&
    last.trusted === trusted
  ) {
    return last.result;
  }
  const peer = parseIp(input.peerAddress)?.address ?? input.peerAddress;
  const proto = input.encrypted ? 'https' : 'http';
  const ownElement = `for=${forwardedNode(peer)};host=${quoteIfNeeded(host)};proto=${proto}`;

  if (!trusted.trusts(peer)) {
    const result: ForwardingResult = {
      clientIp: peer,
      headers: {
        'x-forwarded-for': peer,
        'x-forwarded-proto': proto,
        'x-forwarded-host': host,
        forwarded: ownElement,
      },
    };
    lastUntrusted = Object.freeze({
      peerAddress: input.peerAddress,
      host,
      encrypted: input.encrypted,
      trusted,
      result: Object.freeze({ clientIp: peer, headers: Object.freeze(result.headers) }),
    });
    return lastUntrusted.result;
  }

  const xff = joined(headers['x-forwarded-for']);
  const forwarded = joined(headers.forwarded);
  const chain =
    xff !== undefined
      ? parseXForwardedFor(xff)
      : forwarded !== undefined
        ? forwardedFor(forwarded)
        : [];
  const incomingProto = first(headers['x-forwarded-proto'])?.split(',')[0]?.trim().toLowerCase();
  const incomingHost = first(headers['x-forwarded-host'])?.split(',')[0]?.trim();
  return {
    clientIp: rightmostUntrusted(chain, peer, trusted),
    headers: {
      'x-forwarded-for': xff === undefined ? peer : `${xff}, ${peer}`,
      'x-forwarded-proto':
        incomingProto === 'http' || incomingProto === 'https' ? incomingProto : proto,
      'x-forwarded-host':
        incomingHost !== undefined && incomingHost !== '' && !hasControl(incomingHost)
          ? incomingHost
          : host,
      forwarded: forwarded === undefined ? ownElement : `${forwarded}, ${ownElement}`,
    },
  };
}

/**
 * Walks the chain from the right, starting after the (trusted) peer, and returns the first hop
 * that is not a trusted proxy. A hop that is not an IP address (`unknown`, an obfuscated
 * identifier, garbage) cannot be trusted, so it ends the walk; it is then reported as written
 * when it is an address and otherwise the last trusted hop stands for the client. When every hop
 * is trusted, the leftmost one is the client.
 */
function rightmostUntrusted(
  chain: readonly string[],
  peer: string,
  trusted: TrustedProxies,
): string {
  let client = peer;
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = parseIp(chain[i] ?? '');
    if (hop === undefined) return client;
    client = hop.address;
    if (!trusted.trusts(hop.address)) return client;
  }
  return client;
}

/** `X-Forwarded-For` entries with any port removed: `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`. */
function parseXForwardedFor(value: string): string[] {
  return value.split(',').map((entry) => stripPort(entry.trim()));
}

/** The `for=` value of each `Forwarded` element, unquoted, without brackets or port (`""` when absent). */
function forwardedFor(value: string): string[] {
  return splitOutsideQuotes(value, ',').map((element) => {
    for (const pair of splitOutsideQuotes(element, ';')) {
      const eq = pair.indexOf('=');
      if (eq !== -1 && pair.slice(0, eq).trim().toLowerCase() === 'for') {
        return stripPort(unquote(pair.slice(eq + 1).trim()));
      }
    }
    return '';
  });
}

function stripPort(node: string): string {
  if (node.startsWith('[')) {
    const end = node.indexOf(']');
    return end === -1 ? node : node.slice(1, end);
  }
  const colon = node.indexOf(':');
  // One colon: IPv4 (or a name) with a port. More: a bare IPv6 address.
  return colon !== -1 && colon === node.lastIndexOf(':') ? node.slice(0, colon) : node;
}

function splitOutsideQuotes(value: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const char = value[i];
    if (quoted && char === '\\') i++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && char === separator) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

function unquote(value: string): string {
  if (value.length < 2 || !value.startsWith('"') || !value.endsWith('"')) return value;
  return value.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** RFC 7239 §6: an IPv6 node is bracketed, and then must be quoted; a peer with no address is `unknown`. */
function forwardedNode(address: string): string {
  if (parseIp(address) === undefined) return 'unknown';
  return address.includes(':') ? `"[${address}]"` : address;
}

function quoteIfNeeded(value: string): string {
  return TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function joined(value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value.join(', ') : value;
  return text === undefined || text.trim() === '' ? undefined : text;
}

function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
