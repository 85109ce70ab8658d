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
 * True when `name` (any case) is one of {@link HOP_BY_HOP_HEADERS}. Most names are ruled out by
 * their length alone, without lower-casing them.
 */
function isAlwaysHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
    case 7:
    case 10:
    case 16:
    case 17:
    case 18:
    case 19:
      return HOP_BY_HOP_HEADERS.has(name.toLowerCase());
    default:
      return false;
  }
}

/**
 * Returns a new header object without the hop-by-hop names and without every name listed in
 * `Connection` (compared case-insensitively). Other names keep their spelling and value; numbers
 * become strings and `undefined` entries are dropped. The input is not modified.
 *
 * One pass over the names: the `Connection` values met on the way are kept aside, and the names
 * they list (rare in practice) are left out of a second copy at the end.
 */
export function stripHopByHop(headers: HeaderInput): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  let connection: (string | string[] | number)[] | undefined;
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (isAlwaysHopByHop(name)) {
      if (name.length === 10 && name.toLowerCase() === 'connection')
        (connection ??= []).push(value);
      continue;
    }
    put(out, name, typeof value === 'number' ? String(value) : value);
  }
  return connection === undefined ? out : withoutListed(out, connection);
}

function put(
  headers: Record<string, string | string[]>,
  name: string,
  value: string | string[],
): void {
  if (name === '__proto__') {
    // A header called `__proto__` is a header, not a prototype.
    Object.defineProperty(headers, name, { value, enumerable: true, writable: true });
  } else {
    headers[name] = value;
  }
}

/** `Connection` tokens that name nothing left to remove: the always-hop-by-hop names and `close`. */
const ALREADY_GONE: ReadonlySet<string> = new Set([...HOP_BY_HOP_HEADERS, 'close']);

/** `headers` without the names listed in the `Connection` values (compared case-insensitively). */
function withoutListed(
  headers: Record<string, string | string[]>,
  connection: readonly (string | string[] | number)[],
): Record<string, string | string[]> {
  let listed: Set<string> | undefined;
  for (const value of connection) {
    for (const list of Array.isArray(value) ? value : [String(value)]) {
      // The usual values (`keep-alive`, `close`, `upgrade`) list nothing that is still there.
      if (ALREADY_GONE.has(list.toLowerCase())) continue;
      for (const token of list.split(',')) {
        const trimmed = token.trim().toLowerCase();
        if (trimmed !== '' && !ALREADY_GONE.has(trimmed)) (listed ??= new Set()).add(trimmed);
      }
    }
  }
  if (listed === undefined) return headers;
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value !== undefined && !listed.has(name.toLowerCase())) put(out, name, value);
  }
  return out;
}
