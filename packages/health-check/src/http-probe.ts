/**
 * Why: the health check most proxies run — the seed proxy's `REVERSE_PROXY_HEALTHCHECK_PATH`,
 * Envoy's HTTP health checker, HAProxy's `option httpchk`, Kubernetes' `httpGet`: ask a path,
 * accept a set of statuses (200–399 by default, as Kubernetes does), optionally look for a string
 * or pattern in the first few KiB of the body. Each probe opens its own connection (`agent:
 * false`, `Connection: close`), so a probe never queues behind the proxy's pooled sockets nor
 * takes one from them, and it checks the connect path every time, as HAProxy does. The response
 * is always consumed or destroyed and the promise settles only once the socket is closed, so
 * probes never leak sockets.
 */
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { abortReason, onAbort, requireInteger } from '@proxykit/core';
import { HealthProbeError } from './health-check-errors.js';
import type { HealthProbe, HealthTarget } from './health-probe.js';

/** An inclusive range of HTTP statuses, e.g. `{ from: 200, to: 299 }`. */
export interface StatusRange {
  /** Lowest accepted status. */
  readonly from: number;
  /** Highest accepted status (inclusive). */
  readonly to: number;
}

/** TLS settings for probing `https` targets (passed to `node:https`). */
export interface HttpProbeTlsOptions {
  /** Certificate authorities to trust instead of Node's defaults (PEM). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate for mutual TLS (PEM). */
  readonly cert?: string | Buffer;
  /** Private key of the client certificate (PEM). */
  readonly key?: string | Buffer;
  /** Verify the server's certificate (default true). */
  readonly rejectUnauthorized?: boolean;
  /** SNI server name; defaults to the Host header's name. */
  readonly servername?: string;
}

/** Options of {@link HttpProbe}. */
export interface HttpProbeOptions {
  /** Request path and query, starting with `/` (default `/`). */
  readonly path?: string;
  /** Request method (default `GET`). */
  readonly method?: string;
  /**
   * Statuses that mean healthy: a list of statuses and inclusive ranges, or a predicate
   * (default `[{ from: 200, to: 399 }]`).
   */
  readonly expectedStatuses?: readonly (number | StatusRange)[] | ((status: number) => boolean);
  /**
   * When set, the body must contain this string, or match this pattern, within its first
   * `maxBodyBytes` bytes (read as UTF-8).
   */
  readonly body?: string | RegExp;
  /** Most body bytes read, an integer in [1, 16777216] (default 16384, HAProxy's check buffer). */
  readonly maxBodyBytes?: number;
  /** Host header to send instead of the target's `host:port` (virtual hosts behind one address). */
  readonly hostHeader?: string;
  /** Extra request headers (default: only `user-agent: proxykit-health-check`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Probe this port instead of the target's (a separate health or admin port). */
  readonly port?: number;
  /** TLS settings for `https` targets. */
  readonly tls?: HttpProbeTlsOptions;
}

const OWNER = 'HttpProbe';
const DEFAULT_RANGE: StatusRange = { from: 200, to: 399 };
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const OK = { ok: true } as const;

type Verdict = typeof OK | { readonly ok: false; readonly error: unknown };

function requireStatus(value: unknown, what: string): number {
  return requireInteger(OWNER, what, value, 100, 599);
}

function compileStatuses(
  expected: HttpProbeOptions['expectedStatuses'],
): [(status: number) => boolean, string] {
  if (typeof expected === 'function') return [expected, 'a status accepted by expectedStatuses'];
  const list = expected ?? [DEFAULT_RANGE];
  if (!Array.isArray(list) || list.length === 0) {
    throw new TypeError(
      `${OWNER}: expectedStatuses must be a non-empty list of statuses and { from, to } ranges, or a function`,
    );
  }
  const singles = new Set<number>();
  const ranges: StatusRange[] = [];
  for (const entry of list as readonly unknown[]) {
    if (typeof entry === 'number') {
      singles.add(requireStatus(entry, 'expectedStatuses[]'));
      continue;
    }
    const { from, to } = (entry ?? {}) as Partial<StatusRange>;
    const low = requireStatus(from, 'expectedStatuses[].from');
    const high = requireInteger(OWNER, 'expectedStatuses[].to', to, low, 599);
    ranges.push({ from: low, to: high });
  }
  const description = [
    ...[...singles].map(String),
    ...ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)),
  ].join(', ');
  const accepts = (status: number): boolean =>
    singles.has(status) || ranges.some((r) => status >= r.from && status <= r.to);
  return [accepts, description];
}

function isSecure(target: HealthTarget): boolean {
  const scheme = (target.scheme ?? 'http').toLowerCase().replace(/:$/, '');
  if (scheme === 'http') return false;
  if (scheme === 'https') return true;
  throw new TypeError(`HTTP probe of ${target.name}: unsupported scheme ${JSON.stringify(scheme)}`);
}

/**
 * Probes an upstream with one HTTP(S) request on a connection of its own.
 *
 * Healthy when the status is expected and, if `body` is set, the body matches. Rejects with a
 * {@link HealthProbeError} for a bad status or body, with Node's error for a failed connection
 * (ECONNREFUSED, ECONNRESET, a TLS error), and with `signal.reason` when the signal aborts (the
 * checker's timeout: a server that accepts and never answers fails at the timeout).
 *
 * @example
 * ```ts
 * const probe = new HttpProbe({ path: '/healthz', expectedStatuses: [200], body: /"status":"ok"/ });
 * ```
 */
export class HttpProbe implements HealthProbe {
  /** The request path. */
  readonly path: string;
  /** The request method. */
  readonly method: string;
  readonly #accepts: (status: number) => boolean;
  readonly #expected: string;
  readonly #body: string | RegExp | undefined;
  readonly #maxBodyBytes: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #port: number | undefined;
  readonly #tls: HttpProbeTlsOptions;

  /** @throws RangeError or TypeError naming the first invalid option */
  constructor(options: HttpProbeOptions = {}) {
    const path = options.path ?? '/';
    if (typeof path !== 'string' || !path.startsWith('/') || /[\s\0]/.test(path)) {
      throw new TypeError(
        `${OWNER}: path must start with "/" and contain no whitespace, got ${JSON.stringify(path)}`,
      );
    }
    const method = options.method ?? 'GET';
    if (typeof method !== 'string' || !TOKEN.test(method)) {
      throw new TypeError(`${OWNER}: method must be an HTTP token, got ${JSON.stringify(method)}`);
    }
    const body = options.body;
    if (body !== undefined && typeof body !== 'string' && !(body instanceof RegExp)) {
      throw new TypeError(`${OWNER}: body must be a string or a RegExp`);
    }
    if (options.port !== undefined) requireInteger(OWNER, 'port', options.port, 1, 65_535);
    this.path = path;
    this.method = method.toUpperCase();
    [this.#accepts, this.#expected] = compileStatuses(options.expectedStatuses);
    this.#body = body;
    this.#maxBodyBytes = requireInteger(
      OWNER,
      'maxBodyBytes',
      options.maxBodyBytes ?? 16_384,
      1,
      16_777_216,
    );
    const headers: Record<string, string> = {
      'user-agent': 'proxykit-health-check',
      ...options.headers,
    };
    if (options.hostHeader !== undefined) headers.host = options.hostHeader;
    this.#headers = headers;
    this.#port = options.port;
    this.#tls = options.tls ?? {};
  }

  /** Sends the request to `target`; resolves when the answer means healthy. */
  probe(target: HealthTarget, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    let secure: boolean;
    try {
      secure = isSecure(target);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<void>((resolve, reject) => {
      let verdict: Verdict | undefined;
      const fail = (error: unknown): void => {
        verdict ??= { ok: false, error };
      };
      const options = {
        host: target.host,
        port: this.#port ?? target.port,
        method: this.method,
        path: this.path,
        headers: this.#headers,
        // A connection of its own, closed after the answer: never one of the proxy's sockets.
        agent: false as const,
      };
      const request: ClientRequest = secure
        ? httpsRequest({ ...this.#tls, ...options } as HttpsRequestOptions)
        : httpRequest(options);
      const detach = onAbort(signal, () => {
        fail(abortReason(signal));
        request.destroy();
      });
      request.on('error', fail);
      request.once('response', (response: IncomingMessage) => {
        response.on('error', fail);
        const status = response.statusCode ?? 0;
        if (!this.#accepts(status)) {
          fail(
            new HealthProbeError(
              `HTTP probe of ${target.name}: status ${status}, expected ${this.#expected}`,
              'status',
              status,
            ),
          );
          request.destroy();
          return;
        }
        if (this.#body === undefined) {
          verdict ??= OK;
          this.#drain(request, response);
        } else {
          this.#match(target, request, response, (v) => {
            verdict ??= v;
          });
        }
      });
      // Settle once the connection is closed, so no socket outlives the probe.
      request.once('close', () => {
        detach();
        if (verdict?.ok === true) {
          resolve();
          return;
        }
        const reason: unknown =
          verdict === undefined
            ? new Error(`HTTP probe of ${target.name}: connection closed before an answer`)
            : verdict.error;
        reject(reason);
      });
      request.end();
    });
  }

  /** Reads what is left of an accepted answer, at most `maxBodyBytes`, then lets it close. */
  #drain(request: ClientRequest, response: IncomingMessage): void {
    let seen = 0;
    response.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > this.#maxBodyBytes) request.destroy();
    });
  }

  /** Reads up to `maxBodyBytes` of the body and decides whether it matches `body`. */
  #match(
    target: HealthTarget,
    request: ClientRequest,
    response: IncomingMessage,
    decide: (verdict: Verdict) => void,
  ): void {
    const pattern = this.#body;
    const matches = (text: string): boolean =>
      typeof pattern === 'string' ? text.includes(pattern) : text.search(pattern as RegExp) !== -1;
    const mismatch = (): Verdict => ({
      ok: false,
      error: new HealthProbeError(
        `HTTP probe of ${target.name}: body does not match ${String(pattern)} in its first ${this.#maxBodyBytes} bytes`,
        'body',
        response.statusCode,
      ),
    });
    const decoder = new StringDecoder('utf8');
    let text = '';
    let seen = 0;
    let decided = false;
    response.on('data', (chunk: Buffer) => {
      if (decided) return;
      const room = this.#maxBodyBytes - seen;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      seen += part.length;
      text += decoder.write(part);
      if (matches(text)) {
        decided = true;
        decide(OK);
        request.destroy();
      } else if (seen >= this.#maxBodyBytes) {
        decided = true;
        decide(mismatch());
        request.destroy();
      }
    });
    response.once('end', () => {
      if (decided) return;
      decided = true;
      decide(matches(text + decoder.end()) ? OK : mismatch());
    });
  }
}
