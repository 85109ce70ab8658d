// Why: the ingress stage. One `http.Server` with strict parsing and the timeouts of the
// reliability checklist (408 for slow heads and bodies, 431 for oversized headers), a validation
// of each request head before anything is forwarded (smuggling vectors, CR/LF/NUL, missing or
// duplicate Host → 400 and close), absolute-form targets turned into origin-form
// (request-target.ts), the proxy's own endpoints answered here and never forwarded, then the
// proxied request handed to the request path. WebSocket/Upgrade requests go to the `upgrade`
// handler. Connections start on the lean path (lean-ingress.ts), which reads plain body-less
// requests itself and hands every other connection to this server's own parser.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type EndpointHandler } from './endpoints.js';
import type { ProxyObserver } from './proxy-observer.js';
import { installLeanIngress } from './lean-ingress.js';
import { adoptOriginForm, pathOf } from './request-target.js';
import {
  clientErrorResponse,
  INGRESS_SERVER_OPTIONS,
  validateRequestHead,
} from './request-validation.js';
import { sendProxyError } from './response-modifier.js';

/** What the ingress server calls for each request. */
export interface IngressHandlers {
  /** The proxy's own endpoints. */
  readonly endpoints: EndpointHandler;
  /** Told about every request answered here (rejected heads, endpoints). */
  readonly observer: ProxyObserver;
  /**
   * Proxies one request. `path` is the request path without its query; `startedAt` is
   * `performance.now()` at arrival. The handler answers and reports the request itself.
   */
  proxy(req: IncomingMessage, res: ServerResponse, path: string, startedAt: number): void;
  /** Handles an Upgrade request (the server's `upgrade` event). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Takes over a socket Node handed out (Upgrade, CONNECT): the HTTP server no longer closes it,
   * so the proxy must, when it stops.
   */
  adopt(socket: Duplex): void;
}

const UPGRADE_REJECTION_REASONS = {
  400: 'Bad Request',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
} as const;

/**
 * Reports a request the proxy answered without an upstream (an endpoint, a refusal) once its
 * response has closed.
 */
export function reportLocalAnswer(
  observer: ProxyObserver,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  startedAt: number,
  clientIp: string,
): void {
  const report = (): void => {
    observer.requestFinished({
      method: req.method ?? 'GET',
      path,
      status: res.statusCode,
      durationSeconds: (performance.now() - startedAt) / 1000,
      upstream: undefined,
      attempts: 0,
      clientIp,
      traceId: '',
      bytesSent: localBodyBytes(req, res),
      truncated: !res.writableFinished,
    });
  };
  const socket = req.socket;
  if (res.closed || socket.destroyed) {
    report();
    return;
  }
  let reported = false;
  const once = (): void => {
    if (reported) return;
    reported = true;
    report();
  };
  res.once('close', once);
  whenQueuedResponseIsLost(req, res, once);
}

/**
 * Calls `listener` if `res` is queued behind another response on a pipelined connection (Node has
 * not given it the socket yet) and the connection dies first: Node then never emits 'close' for
 * it, and the request's 'close' on the dead socket is the only sign left that the client is gone.
 * Does nothing for a response that has its socket, whose own 'close' will come.
 */
export function whenQueuedResponseIsLost(
  req: IncomingMessage,
  res: ServerResponse,
  listener: () => void,
): void {
  if (res.socket !== null) return;
  const socket = req.socket;
  req.once('close', () => {
    if (socket.destroyed) listener();
  });
}

/**
 * The body bytes of a response the proxy answered itself: every such answer declares its
 * Content-Length (set with `setHeader`) and is written whole, so a finished one sent exactly that
 * many bytes (none for HEAD); an unfinished one is counted as 0.
 */
function localBodyBytes(req: IncomingMessage, res: ServerResponse): number {
  if (!res.writableFinished || req.method === 'HEAD') return 0;
  const length = Number(res.getHeader('content-length'));
  return Number.isSafeInteger(length) && length > 0 ? length : 0;
}

/** An error on a handed-over socket is followed by its 'close', where every owner cleans up. */
function ignoreSocketError(): void {
  // Nothing to do here: see the 'upgrade' and 'connect' handlers.
}

/** How long a refused handed-over socket may stay open after the refusal, waiting for the client. */
export const REFUSAL_LINGER_MS = 5_000;

/**
 * Writes a final answer on a socket Node handed over (an Upgrade or CONNECT the proxy refuses) and
 * closes it. No HTTP server watches such a socket any more, so this does: what the client still
 * sends is read and dropped (so its FIN or reset is noticed, and no unread byte turns the close
 * into a reset that could lose the answer), and the socket is destroyed at the latest
 * {@link REFUSAL_LINGER_MS} later, as nginx's lingering close bounds its wait.
 */
export function answerAndClose(socket: Duplex, answer: string): void {
  socket.on('error', ignoreSocketError);
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS);
  timer.unref();
  socket.once('close', () => {
    clearTimeout(timer);
  });
  socket.resume();
  socket.end(answer);
}

/** Creates the ingress server (not listening yet). */
export function createIngressServer(handlers: IngressHandlers): Server {
  const { endpoints, observer } = handlers;
  const server = createServer(INGRESS_SERVER_OPTIONS, (req, res) => {
    const startedAt = performance.now();
    const url = req.url ?? '/';
    const rejection = validateRequestHead(req);
    if (rejection !== undefined) {
      // Malformed heads are answered and the connection closed: nothing after them can be trusted.
      sendProxyError(res, rejection.status, { connection: 'close' });
      reportLocalAnswer(observer, req, res, pathOf(url), startedAt, req.socket.remoteAddress ?? '');
      return;
    }
    adoptOriginForm(req);
    const target = req.url ?? '/';
    const path = pathOf(target);
    if (endpoints.handles(path)) {
      endpoints.handle(req, res, path, target);
      reportLocalAnswer(observer, req, res, path, startedAt, req.socket.remoteAddress ?? '');
      return;
    }
    handlers.proxy(req, res, path, startedAt);
  });
  installLeanIngress(server, (path) => !endpoints.handles(path));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node takes its own error listener off a socket it hands over; without one, a client that
    // resets the connection while the proxy answers or decides would crash the process.
    socket.on('error', ignoreSocketError);
    handlers.adopt(socket);
    const rejection = validateRequestHead(req);
    if (rejection !== undefined) {
      answerAndClose(
        socket,
        `HTTP/1.1 ${String(rejection.status)} ${UPGRADE_REJECTION_REASONS[rejection.status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    adoptOriginForm(req);
    handlers.upgrade(req, socket, head);
  });
  // CONNECT asks for a tunnel to any host; a reverse proxy serves its upstreams only. Node would
  // close the connection without a word; this says why, as nginx does (with 400).
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    handlers.adopt(socket);
    answerAndClose(
      socket,
      'HTTP/1.1 501 Not Implemented\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
    );
  });
  // A head Node cannot parse, or one too slow or too large, gets 400/408/413/431 and a closed
  // socket, never a crash.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(clientErrorResponse(error));
  });
  return server;
}
