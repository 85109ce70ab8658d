/**
 * Why: `server.close()` stops accepting and (Node 19 and later) closes the connections idle at
 * that moment, but a keep-alive connection busy with a request stays open for the client's next
 * request, and the client is never told that this connection is ending. A proxy being replaced
 * must drain the way Envoy's drain manager and nginx's graceful shutdown do: idle keep-alive
 * connections close at once, a connection with a request in flight gets `Connection: close` on
 * that response and closes right after it, a WebSocket/Upgrade tunnel keeps running, and whatever
 * is still open at the grace deadline is destroyed (and counted, so the operator learns how many
 * were cut off).
 *
 * The tracker follows every socket of one server from its `connection` event (`secureConnection`
 * for TLS servers) and counts the requests in flight on each, from the server's `request` event
 * (or `checkContinue`/`checkExpectation`) to the response's `finish`/`close`. A socket handed to
 * an `upgrade` listener counts as busy until it closes. There is no timer until `drain()` is
 * called, and then exactly one, unref'd and cleared.
 */
import type { Server, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server as TlsServer } from 'node:tls';
import { MAX_TIMER_DELAY_MS, requireInteger } from '@proxykit/core';

/** What {@link ConnectionTracker.drain} reports once every connection is gone. */
export interface DrainResult {
  /** Connections that were still open at the grace deadline and were destroyed. */
  readonly forced: number;
}

/** Per-socket state: responses in flight, and whether an upgrade listener took the socket over. */
interface SocketState {
  readonly tracker: ConnectionTracker;
  readonly socket: Duplex;
  readonly responses: Set<ServerResponse>;
  upgraded: boolean;
}

/** Where a tracked response keeps its connection's state, for the shared 'close' listener. */
const SOCKET_STATE = Symbol('proxykit.drain.socket-state');

/** A response followed by a tracker. */
interface TrackedResponse extends ServerResponse {
  [SOCKET_STATE]?: SocketState;
}

/**
 * A response's 'close' (Node emits it once the response ended, sent or aborted): one function
 * shared by every response, so following a request allocates no closure and no `once` wrapper.
 */
function onResponseClose(this: TrackedResponse): void {
  const state = this[SOCKET_STATE];
  if (state === undefined || !state.responses.delete(this)) return;
  state.tracker.responseEnded(state);
}

const OWNER = 'ConnectionTracker';

/**
 * Follows the connections of one HTTP server so that it can be shut down gracefully: see
 * {@link ConnectionTracker.beginDrain} and {@link ConnectionTracker.drain}. Create it right after
 * the server, before it accepts connections.
 */
export class ConnectionTracker {
  readonly #sockets = new Map<Duplex, SocketState>();
  #draining = false;
  #drained: Promise<DrainResult> | undefined;
  #onEmpty: (() => void) | undefined;

  /** Starts tracking `server`'s connections and requests. */
  constructor(server: Server) {
    const connectionEvent = server instanceof TlsServer ? 'secureConnection' : 'connection';
    server.on(connectionEvent, (socket: Duplex) => {
      this.#track(socket);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#onRequest(req, res);
    });
    // Listening to `upgrade`, `checkContinue` or `checkExpectation` changes how Node treats those
    // requests (without a listener an upgrade is a plain request, and `Expect: 100-continue` is
    // answered by Node and becomes a plain request), so the tracker listens to each only while
    // someone else does. `newListener` fires before the listener is added, hence the microtask.
    const followed: Readonly<Record<string, (req: IncomingMessage, res: ServerResponse) => void>> =
      {
        upgrade: (req: IncomingMessage) => {
          const state = this.#sockets.get(req.socket);
          if (state !== undefined) state.upgraded = true;
        },
        checkContinue: (req: IncomingMessage, res: ServerResponse) => {
          this.#onRequest(req, res);
        },
        checkExpectation: (req: IncomingMessage, res: ServerResponse) => {
          this.#onRequest(req, res);
        },
      };
    const follow = (event: string): void => {
      const mineListener = followed[event];
      if (mineListener === undefined) return;
      const listeners = server.listeners(event);
      const mine = listeners.includes(mineListener);
      const others = listeners.length - (mine ? 1 : 0);
      if (others > 0 && !mine) server.prependListener(event, mineListener);
      else if (others === 0 && mine) server.removeListener(event, mineListener);
    };
    const onListenerChange = (event: string | symbol): void => {
      if (typeof event === 'string' && event in followed) {
        queueMicrotask(() => {
          follow(event);
        });
      }
    };
    server.on('newListener', onListenerChange);
    server.on('removeListener', onListenerChange);
    for (const event of Object.keys(followed)) follow(event);
  }

  /** Open connections right now. */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Requests in flight right now, over all connections (upgraded tunnels not included). */
  get inFlight(): number {
    let total = 0;
    for (const state of this.#sockets.values()) total += state.responses.size;
    return total;
  }

  /** True once {@link ConnectionTracker.beginDrain} (or `drain`) was called. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Switches to draining: idle keep-alive connections are closed now; every response not yet
   * started, in flight or arriving later, is sent with `Connection: close`; each connection closes
   * once its last response is sent. Tunnels are left running. Idempotent.
   */
  beginDrain(): void {
    if (this.#draining) return;
    this.#draining = true;
    for (const [socket, state] of this.#sockets) {
      if (state.upgraded) continue;
      if (state.responses.size === 0) {
        socket.destroy();
        continue;
      }
      for (const res of state.responses) {
        if (!res.headersSent) res.shouldKeepAlive = false;
      }
    }
  }

  /**
   * Drains (calling {@link ConnectionTracker.beginDrain} if needed) and resolves once every
   * connection is closed, or, at `graceMs`, destroys those still open and resolves when they are
   * gone, with `forced` counting them. Calling it again returns the same promise.
   *
   * @param graceMs - Milliseconds connections get to finish, an integer in [0, 2147483647].
   */
  drain(graceMs: number): Promise<DrainResult> {
    requireInteger(OWNER, 'graceMs', graceMs, 0, MAX_TIMER_DELAY_MS);
    if (this.#drained !== undefined) return this.#drained;
    this.beginDrain();
    this.#drained = new Promise<DrainResult>((resolve) => {
      let forced = 0;
      const timer = setTimeout(() => {
        forced = this.#sockets.size;
        for (const socket of this.#sockets.keys()) socket.destroy();
      }, graceMs);
      timer.unref();
      this.#onEmpty = () => {
        clearTimeout(timer);
        this.#onEmpty = undefined;
        resolve({ forced });
      };
      if (this.#sockets.size === 0) this.#onEmpty();
    });
    return this.#drained;
  }

  #track(socket: Duplex): SocketState | undefined {
    const known = this.#sockets.get(socket);
    if (known !== undefined) return known;
    if (socket.destroyed) return undefined;
    const state: SocketState = { tracker: this, socket, responses: new Set(), upgraded: false };
    this.#sockets.set(socket, state);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (this.#sockets.size === 0) this.#onEmpty?.();
    });
    if (this.#draining) {
      // Accepted just before the listener closed; nothing was asked on it yet.
      socket.destroy();
      return undefined;
    }
    return state;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const state = this.#sockets.get(socket) ?? this.#track(socket);
    if (state === undefined) return;
    state.responses.add(res);
    if (this.#draining) res.shouldKeepAlive = false;
    (res as TrackedResponse)[SOCKET_STATE] = state;
    res.on('close', onResponseClose);
  }

  /** @internal a response of `state`'s connection ended: while draining, its last one closes it */
  responseEnded(state: SocketState): void {
    if (this.#draining && state.responses.size === 0 && !state.upgraded) state.socket.end();
  }
}
