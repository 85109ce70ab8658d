// Why: the proxy's own endpoints, answered at the ingress and never forwarded. `/healthz` says the
// process is alive (and, with `?check=upstream`, whether any upstream could serve); `/readyz`
// fails while draining and before the first round of health checks, so an orchestrator sends
// nothing until the proxy knows where to send it and stops sending before it goes away;
// `/metrics` (Prometheus) and `/status` (an HAProxy-style live page over `/status.json`) reveal
// topology, so they share one optional bearer token, compared in constant time. Browsers cannot
// attach an Authorization header to a page load, so those two also accept `?token=`.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAuthorized, UNAUTHORIZED_HEADERS } from './metrics-auth.js';
import type { ProxyMetrics } from './proxy-metrics.js';
import type { ProxyStatusSource } from './proxy-observer.js';
import { sendProxyError } from './response-modifier.js';
import type { StatusBoard } from './status-board.js';
import { renderStatusPage, STATUS_PAGE_HEADERS } from './status-page.js';

/** Paths the proxy answers itself. */
export const ENDPOINT_PATHS: readonly string[] = Object.freeze([
  '/healthz',
  '/readyz',
  '/metrics',
  '/status',
  '/status.json',
  '/status/demo',
]);

/** What the endpoints read. */
export interface EndpointOptions {
  /** Live proxy state. */
  readonly status: ProxyStatusSource;
  /** Prometheus metrics rendered by `/metrics`. */
  readonly metrics: ProxyMetrics;
  /** Rolling per-upstream statistics served by `/status.json`. */
  readonly board: StatusBoard;
  /** Bearer token for `/metrics` and `/status*`; empty for none. */
  readonly token: string;
  /** True when some upstream is healthy with a closed (or probing) breaker. */
  anyUpstreamAvailable(): boolean;
}

const ENDPOINTS: ReadonlySet<string> = new Set(ENDPOINT_PATHS);

/** Answers the proxy's own endpoints. */
export class EndpointHandler {
  readonly #options: EndpointOptions;

  constructor(options: EndpointOptions) {
    this.#options = options;
  }

  /** True when `path` is one of {@link ENDPOINT_PATHS}. */
  handles(path: string): boolean {
    return ENDPOINTS.has(path);
  }

  /** Answers `req` for an endpoint `path`; `url` is the full request target (for the query). */
  handle(req: IncomingMessage, res: ServerResponse, path: string, url: string): void {
    const options = this.#options;
    const query = new URLSearchParams(url.length > path.length ? url.slice(path.length + 1) : '');
    const method = req.method ?? 'GET';
    if (path === '/status/demo') {
      if (method !== 'POST') {
        sendProxyError(res, 405, { allow: 'POST' });
        return;
      }
    } else if (method !== 'GET' && method !== 'HEAD') {
      sendProxyError(res, 405, { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/healthz': {
        if (query.get('check') === 'upstream' && !options.anyUpstreamAvailable()) {
          sendText(res, 503, 'no healthy upstream\n');
          return;
        }
        sendText(res, 200, 'ok\n');
        return;
      }
      case '/readyz': {
        const { ready, draining } = options.status;
        if (ready) {
          sendText(res, 200, 'ready\n');
          return;
        }
        sendText(res, 503, draining ? 'draining\n' : 'not ready\n');
        return;
      }
      default:
        break;
    }
    // The rest reveal topology: same access rule for all of them.
    const header = req.headers.authorization;
    const token = query.get('token');
    const authorization =
      header === undefined && token !== null && path !== '/metrics' ? `Bearer ${token}` : header;
    if (!isAuthorized(authorization, options.token)) {
      sendProxyError(res, 401, UNAUTHORIZED_HEADERS);
      return;
    }
    switch (path) {
      case '/metrics':
        options.metrics.render().then(
          (text) => {
            send(res, 200, options.metrics.contentType, text);
          },
          () => {
            sendText(res, 500, 'metrics unavailable\n');
          },
        );
        return;
      case '/status': {
        const page = renderStatusPage(options.board.report());
        // Set apart so that the access log can read it back (its body byte count).
        res.setHeader('content-length', Buffer.byteLength(page));
        res.writeHead(200, STATUS_PAGE_HEADERS);
        res.end(req.method === 'HEAD' ? undefined : page);
        return;
      }
      case '/status.json': {
        send(res, 200, 'application/json', JSON.stringify(options.board.report()));
        return;
      }
      default: {
        this.#demo(res, query);
        return;
      }
    }
  }

  #demo(res: ServerResponse, query: URLSearchParams): void {
    const demo = this.#options.status.demo;
    if (demo === undefined) {
      sendProxyError(res, 404);
      return;
    }
    const upstream = query.get('upstream') ?? '';
    const failing = query.get('failing');
    if (failing !== '1' && failing !== '0') {
      sendProxyError(res, 400);
      return;
    }
    try {
      demo.setFailing(upstream, failing === '1');
    } catch {
      sendProxyError(res, 404);
      return;
    }
    send(res, 200, 'application/json', JSON.stringify(demo.upstreams()));
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  send(res, status, 'text/plain; charset=utf-8', text);
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.headersSent || res.destroyed) return;
  // Set apart so that the access log can read it back (its body byte count).
  res.setHeader('content-length', Buffer.byteLength(body));
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
