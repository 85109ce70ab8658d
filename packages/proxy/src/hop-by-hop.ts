/**
 * Why: some headers describe one connection, not the message, and must not cross a proxy
 * (RFC 9110 §7.6.1): `Connection` and every name it lists, plus the names that old and new
 * implementations treat as connection-specific whether listed or not (`Keep-Alive`,
 * `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-Authenticate`,
 * `Proxy-Authorization`), as nginx, HAProxy and Envoy drop them. Forwarding them lets a client
 * strip headers the proxy adds (`Connection: X-Forwarded-For`), smuggle framing, or leak proxy
 * credentials upstream. The proxy strips both directions before adding its own headers.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The header names that are always hop-by-hop, lower case. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** Headers as node:http or undici give them. */
export type HeaderInput =
  IncomingHttpHeaders | Readonly<Record<string, string | string[] | number | undefined>>;

/**
 * Returns a new header object without the hop-by-hop names and without every name listed in
 * `Connection` (compared case-insensitively). Other names keep their spelling and value; numbers
 * become strings and `undefined` entries are dropped. The input is not modified.
 */
export function stripHopByHop(headers: HeaderInput): Record<string, string | string[]> {
  const listed = connectionTokens(headers);
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_HEADERS.has(lower) || listed?.has(lower) === true) continue;
    const kept = typeof value === 'number' ? String(value) : value;
    if (name === '__proto__') {
      // A header called `__proto__` is a header, not a prototype.
      Object.defineProperty(out, name, { value: kept, enumerable: true, writable: true });
    } else {
      out[name] = kept;
    }
  }
  return out;
}

/** Names listed in every `Connection` header of `headers`, lower case; `undefined` when none. */
function connectionTokens(headers: HeaderInput): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (const name of Object.keys(headers)) {
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = headers[name];
    const values = Array.isArray(value) ? value : value === undefined ? [] : [String(value)];
    for (const list of values) {
      for (const token of list.split(',')) {
        const trimmed = token.trim().toLowerCase();
        if (trimmed !== '') (tokens ??= new Set()).add(trimmed);
      }
    }
  }
  return tokens;
}
