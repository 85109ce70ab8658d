/**
 * Why: the ingress server's connections start on the lean path. Each request whose whole head is
 * in hand and has the lean shape (lean-head.ts) is read here and handed to the server's 'request'
 * listeners (the proxy's ingress handler and the drain tracker) as a {@link LeanRequest} and
 * {@link LeanResponse}, one at a time, pipelined ones in order. The first request that is not
 * (a body, an Upgrade, a head split over reads, one of the proxy's own endpoints, anything odd)
 * hands the connection, with every unread byte, to Node's HTTP server for good, where the usual
 * checks, timeouts and error answers apply. Idle lean connections close after the server's
 * keep-alive timeout, as Node's would.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseLeanHead } from './lean-head.js';
import { LeanRequest, LeanResponse, type LeanResponseOwner } from './lean-response.js';
import { pathOf } from './request-target.js';
import { MAX_HEADER_SIZE } from './request-validation.js';

/** The lean path of one server. */
export interface LeanIngress {
  /** Lean connections open now. */
  readonly connections: number;
}

type ConnectionListener = (this: Server, socket: Socket) => void;

/** The bytes a lean head and its blank line may take. */
const HEAD_WINDOW = MAX_HEADER_SIZE + 4;

/** How often idle lean connections are looked at. */
const SWEEP_INTERVAL_MS = 1_000;

/**
 * Puts `server`'s connections on the lean path. `takesPath` says which request paths may be read
 * here (the proxy's own endpoints are not). Call it once, right after creating the server and
 * before any other 'connection' listener is added. The server's `keepAliveTimeout` is read now:
 * lean connections idle longer are closed. The server's `closeIdleConnections` and
 * `closeAllConnections` (and so `close`) then cover the lean connections too.
 */
export function installLeanIngress(
  server: Server,
  takesPath: (path: string) => boolean,
): LeanIngress {
  const listeners = server.listeners('connection');
  const nodeListener = listeners[0] as ConnectionListener | undefined;
  if (listeners.length !== 1 || nodeListener === undefined) {
    throw new Error('installLeanIngress needs the server as created, with its own listener only');
  }
  server.removeListener('connection', nodeListener);
  const open = new Set<LeanConnection>();
  const keepAliveMs = server.keepAliveTimeout;
  const context: LeanContext = {
    server,
    takesPath,
    keepAliveSeconds: Math.floor(keepAliveMs / 1000),
    handOff(connection, socket) {
      open.delete(connection);
      nodeListener.call(server, socket);
    },
    closed(connection) {
      open.delete(connection);
    },
  };
  let sweeper: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    const now = performance.now();
    for (const connection of open) connection.closeIfIdleSince(now - keepAliveMs);
    if (open.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };
  server.on('connection', (socket: Socket) => {
    open.add(new LeanConnection(context, socket));
    if (sweeper === undefined && keepAliveMs > 0) {
      sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
      sweeper.unref();
    }
  });
  const closeIdle = server.closeIdleConnections.bind(server);
  const closeAll = server.closeAllConnections.bind(server);
  server.closeIdleConnections = () => {
    closeIdle();
    for (const connection of open) connection.closeIfIdleSince(Infinity);
  };
  server.closeAllConnections = () => {
    closeAll();
    for (const connection of open) connection.destroy();
  };
  return {
    get connections() {
      return open.size;
    },
  };
}

interface LeanContext {
  readonly server: Server;
  readonly takesPath: (path: string) => boolean;
  readonly keepAliveSeconds: number;
  handOff(connection: LeanConnection, socket: Socket): void;
  closed(connection: LeanConnection): void;
}

/** One connection on the lean path. */
class LeanConnection implements LeanResponseOwner {
  readonly socket: Socket;
  readonly #context: LeanContext;
  #unread: Buffer | undefined = undefined;
  #current: LeanResponse | undefined = undefined;
  #idleSince = performance.now();
  /** Handed to Node's server, or closing: nothing more is read here. */
  #gone = false;

  constructor(context: LeanContext, socket: Socket) {
    this.#context = context;
    this.socket = socket;
    socket.on('data', this.#onData);
    socket.on('close', this.#onClose);
    socket.on('error', this.#onError);
    socket.on('end', this.#onEnd);
  }

  get keepAliveSeconds(): number {
    return this.#context.keepAliveSeconds;
  }

  closeIfIdleSince(time: number): void {
    if (this.#current === undefined && this.#unread === undefined && this.#idleSince < time) {
      this.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  responseDone(response: LeanResponse, finished: boolean, keepAlive: boolean): void {
    if (response !== this.#current) return;
    this.#current = undefined;
    this.#idleSince = performance.now();
    if (!finished || this.#gone) return;
    if (!keepAlive) {
      this.#finish();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    this.#next();
  }

  /**
   * Closes the connection once the last response left, as Node's server does: nothing more is
   * read (what the client still sends is dropped), and the socket is destroyed once its writes
   * are flushed, whether or not the client closes its side.
   */
  #finish(): void {
    this.#gone = true;
    this.#unread = undefined;
    this.socket.destroySoon();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#gone) return;
    const unread = this.#unread;
    this.#unread = unread === undefined ? chunk : Buffer.concat([unread, chunk]);
    if (this.#current === undefined) this.#next();
    else if (this.#unread.length > MAX_HEADER_SIZE) this.socket.pause();
  };

  /** Serves the requests in hand, one at a time, or hands the connection over. */
  #next(): void {
    while (this.#current === undefined && this.#unread !== undefined && !this.#gone) {
      const unread = this.#unread;
      // One latin1 copy of what can hold a head, searched as a string (cheaper than searching
      // the buffer for a string); a head longer than the limit goes to Node, which refuses it.
      const text = unread.toString('latin1', 0, Math.min(unread.length, HEAD_WINDOW));
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) {
        this.#handOff();
        return;
      }
      const head = parseLeanHead(text.slice(0, end));
      if (head === undefined || !this.#context.takesPath(pathOf(head.url))) {
        this.#handOff();
        return;
      }
      this.#unread = end + 4 === unread.length ? undefined : unread.subarray(end + 4);
      const req = new LeanRequest(head, this.socket);
      const res = new LeanResponse(this, req, head.keepAlive);
      this.#current = res;
      this.#context.server.emit('request', req, res);
    }
  }

  #handOff(): void {
    const socket = this.socket;
    const unread = this.#unread;
    this.#unread = undefined;
    this.#gone = true;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
    socket.off('error', this.#onError);
    // No 'data' listener now: the bytes put back wait in the socket's buffer for Node's.
    if (unread !== undefined) socket.unshift(unread);
    if (socket.isPaused()) socket.resume();
    this.#context.handOff(this, socket);
  }

  readonly #onEnd = (): void => {
    // The client sent FIN. As Node's server does, that ends the exchange: a request in flight is
    // abandoned (its upstream call cancelled), pipelined ones are dropped, and our side closes.
    const current = this.#current;
    this.#current = undefined;
    this.#finish();
    current?.connectionClosed();
  };

  readonly #onClose = (): void => {
    this.#gone = true;
    this.#context.closed(this);
    const current = this.#current;
    this.#current = undefined;
    current?.connectionClosed();
  };

  readonly #onError = (): void => {
    // 'close' follows, where the response in flight learns of it.
  };
}
