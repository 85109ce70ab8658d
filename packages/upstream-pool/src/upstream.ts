/**
 * Why: the pool, the load balancer and the health checker all talk about the same thing, an
 * origin to connect to. The seed's `Upstream.new("https", "api.example.com", 443)
 * .with_weight(10).with_name("api-primary")` is an immutable (scheme, host, port) plus a label
 * and a load-balancing weight; here it is a frozen value, so it can be shared between primitives
 * and used to key their state. Addresses usually come from configuration (`BACKENDS=…`), so
 * parsing fails at load time with a message naming the bad input and what is allowed, as Envoy
 * and HAProxy reject a bad address when they read their config rather than when they first
 * connect.
 */
import { requireInteger, requireNumber } from '@proxykit/core';

/**
 * How an upstream is spoken to: `http` and `tcp` are plain TCP, `https` and `tls` are TLS over
 * TCP. `http`/`https` default their port (80/443); `tcp`/`tls` need one.
 */
export type UpstreamScheme = 'http' | 'https' | 'tcp' | 'tls';

/** The schemes an {@link Upstream} accepts. */
export const UPSTREAM_SCHEMES: readonly UpstreamScheme[] = Object.freeze([
  'http',
  'https',
  'tcp',
  'tls',
]);

const DEFAULT_PORTS: Readonly<Record<UpstreamScheme, number | undefined>> = {
  http: 80,
  https: 443,
  tcp: undefined,
  tls: undefined,
};

/** What {@link Upstream}'s constructor takes. */
export interface UpstreamInit {
  /** Default `'tcp'`. */
  readonly scheme?: UpstreamScheme;
  /** A host name, an IPv4 address or an IPv6 address (brackets optional). */
  readonly host: string;
  /** An integer in [1, 65535]. */
  readonly port: number;
  /** Human label, unique among the upstreams of one balancer; default `host:port`. */
  readonly name?: string;
  /** Load-balancing weight, a number > 0; default 1. */
  readonly weight?: number;
}

/** Options of {@link Upstream.parse}. */
export interface UpstreamParseOptions {
  /** Human label; default `host:port`. */
  readonly name?: string;
  /** Load-balancing weight, a number > 0; default 1. */
  readonly weight?: number;
  /** Scheme assumed for a bare `host:port`; default `'tcp'`. */
  readonly defaultScheme?: UpstreamScheme;
}

function isScheme(value: unknown): value is UpstreamScheme {
  return typeof value === 'string' && (UPSTREAM_SCHEMES as readonly string[]).includes(value);
}

/**
 * Normalises a host: lower case, IDN to punycode, IPv6 without brackets. Returns undefined when
 * the host is not valid in a URL.
 */
function normaliseHost(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === '' || /[\s/?#@\\]/.test(bare)) return undefined;
  const ipv6 = bare.includes(':');
  try {
    const hostname = new URL(`http://${ipv6 ? `[${bare}]` : bare}`).hostname;
    return ipv6 ? hostname.slice(1, -1) : hostname;
  } catch {
    return undefined;
  }
}

/**
 * An origin to connect to: scheme, host and port, plus a name and a load-balancing weight.
 * Immutable (frozen); `withName` and `withWeight` return new values. It satisfies the load
 * balancer's structural `{ name: string; weight?: number }`.
 *
 * @example
 * ```ts
 * const api = new Upstream({ scheme: 'https', host: 'api.example.com', port: 443 })
 *   .withWeight(10)
 *   .withName('api-primary');
 * const db = Upstream.parse('tcp://10.0.0.5:5432', { name: 'db-primary' });
 * ```
 */
export class Upstream {
  /** How the upstream is spoken to. */
  readonly scheme: UpstreamScheme;
  /** Host name or IP address (IPv6 without brackets), lower case. */
  readonly host: string;
  /** TCP port, in [1, 65535]. */
  readonly port: number;
  /** Human label; default `host:port`. */
  readonly name: string;
  /** Load-balancing weight, > 0; default 1. */
  readonly weight: number;
  /**
   * `scheme://host:port` (IPv6 hosts in brackets, the port always present): the identity of the
   * connection, and the key an {@link UpstreamPool} files resources under by default.
   */
  readonly origin: string;

  /** @throws RangeError naming the first invalid field */
  constructor(init: UpstreamInit) {
    const owner = 'Upstream';
    const scheme: unknown = init.scheme ?? 'tcp';
    if (!isScheme(scheme)) {
      throw new RangeError(
        `${owner}: scheme must be one of ${UPSTREAM_SCHEMES.join(', ')}, got ${JSON.stringify(scheme)}`,
      );
    }
    const rawHost: unknown = init.host;
    const host = typeof rawHost === 'string' ? normaliseHost(rawHost) : undefined;
    if (host === undefined) {
      throw new RangeError(
        `${owner}: host must be a host name or an IP address, got ${JSON.stringify(rawHost)}`,
      );
    }
    this.scheme = scheme;
    this.host = host;
    this.port = requireInteger(owner, 'port', init.port, 1, 65535);
    const hostPort = `${host.includes(':') ? `[${host}]` : host}:${String(this.port)}`;
    const name: unknown = init.name ?? hostPort;
    if (typeof name !== 'string' || name === '') {
      throw new RangeError(
        `${owner}: name must be a non-empty string, got ${JSON.stringify(name)}`,
      );
    }
    this.name = name;
    this.weight = requireNumber(owner, 'weight', init.weight ?? 1, 0, Number.MAX_SAFE_INTEGER);
    this.origin = `${scheme}://${hostPort}`;
    Object.freeze(this);
  }

  /** True for the TLS schemes, `https` and `tls`. */
  get secure(): boolean {
    return this.scheme === 'https' || this.scheme === 'tls';
  }

  /** The same upstream with another name. */
  withName(name: string): Upstream {
    return new Upstream({ ...this.toJSON(), name });
  }

  /** The same upstream with another weight. */
  withWeight(weight: number): Upstream {
    return new Upstream({ ...this.toJSON(), weight });
  }

  /** `scheme://host:port`. */
  toString(): string {
    return this.origin;
  }

  /** The fields, as a plain object that {@link Upstream}'s constructor accepts. */
  toJSON(): Required<UpstreamInit> {
    const { scheme, host, port, name, weight } = this;
    return { scheme, host, port, name, weight };
  }

  /**
   * Parses `scheme://host[:port]` (`http`, `https`, `tcp` or `tls`; a bare `host:port` is read
   * with `defaultScheme`, `tcp` unless told otherwise). A missing port defaults to 80 for `http`
   * and 443 for `https`; `tcp` and `tls` need one. Paths (other than `/`), queries, fragments and
   * credentials are refused, since none of them means anything to a connection pool.
   *
   * @throws TypeError naming the input and what is allowed, when it is not such an address
   * @throws RangeError when `name` or `weight` is invalid
   */
  static parse(input: string, options: UpstreamParseOptions = {}): Upstream {
    const expected =
      'expected scheme://host[:port] with scheme http, https, tcp or tls, ' +
      'a port in [1, 65535] (default 80 for http, 443 for https) and no path, query or credentials';
    const fail = (reason: string): never => {
      throw new TypeError(
        `Upstream.parse: ${JSON.stringify(input)} is not a valid upstream: ${reason}; ${expected}`,
      );
    };
    if (typeof input !== 'string') return fail(`got ${typeof input}, not a string`);
    const text = input.trim();
    if (text === '') return fail('it is empty');
    const schemeMatch = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
    let scheme: unknown;
    let rest: string;
    if (schemeMatch === null) {
      if (/^[a-z][a-z0-9+.-]*:(?!\d)/i.test(text) && !text.includes('::')) {
        return fail('the scheme must be followed by "//"');
      }
      scheme = options.defaultScheme ?? 'tcp';
      rest = text;
    } else {
      scheme = (schemeMatch[1] ?? '').toLowerCase();
      rest = text.slice(schemeMatch[0].length);
    }
    if (!isScheme(scheme)) return fail(`unsupported scheme "${String(scheme)}"`);
    const end = rest.search(/[/?#]/);
    const authority = end === -1 ? rest : rest.slice(0, end);
    const tail = end === -1 ? '' : rest.slice(end);
    if (tail.startsWith('?')) return fail('a query is not allowed');
    if (tail.startsWith('#')) return fail('a fragment is not allowed');
    if (tail !== '' && tail !== '/') {
      if (tail.includes('?')) return fail('a query is not allowed');
      if (tail.includes('#')) return fail('a fragment is not allowed');
      return fail(`a path ("${tail}") is not allowed`);
    }
    if (authority.includes('@')) return fail('credentials are not allowed');
    let host: string;
    let portText: string | undefined;
    if (authority.startsWith('[')) {
      const close = authority.indexOf(']');
      if (close === -1) return fail('an IPv6 address is missing its "]"');
      host = authority.slice(0, close + 1);
      const after = authority.slice(close + 1);
      if (after !== '' && !after.startsWith(':'))
        return fail(`unexpected "${after}" after the host`);
      portText = after === '' ? undefined : after.slice(1);
    } else {
      const colon = authority.lastIndexOf(':');
      if (colon !== authority.indexOf(':')) {
        return fail('an IPv6 address must be written in brackets, e.g. [::1]:8080');
      }
      host = colon === -1 ? authority : authority.slice(0, colon);
      portText = colon === -1 ? undefined : authority.slice(colon + 1);
    }
    if (host === '' || host === '[]') return fail('the host is missing');
    const normalised = normaliseHost(host);
    if (normalised === undefined) return fail(`the host "${host}" is not a valid host name or IP`);
    let port: number;
    if (portText === undefined) {
      const fallback = DEFAULT_PORTS[scheme];
      if (fallback === undefined) return fail(`a port is required for ${scheme}://`);
      port = fallback;
    } else {
      if (!/^\d{1,5}$/.test(portText)) return fail(`the port "${portText}" is not a number`);
      port = Number(portText);
      if (port < 1 || port > 65535) return fail(`the port ${portText} is out of range`);
    }
    const init: UpstreamInit = { scheme, host: normalised, port };
    return new Upstream({
      ...init,
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.weight === undefined ? {} : { weight: options.weight }),
    });
  }
}

/**
 * Parses an upstream address; the same as {@link Upstream.parse}.
 *
 * @throws TypeError naming the input and what is allowed, when it is not such an address
 */
export function parseUpstream(input: string, options?: UpstreamParseOptions): Upstream {
  return Upstream.parse(input, options);
}
