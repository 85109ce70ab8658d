// Why: a TCP handshake to the backend is most of a new connection's latency. The seed keeps a
// per-thread pool of pre-connected backend sockets; here each worker keeps, per backend, an
// `UpstreamPool` with `min` idle sockets made by `socketFactory`, hands one to each new client
// connection, and the pool connects the next one in the background. A pooled socket is never
// returned: once a client used it, it carries that client's stream and is closed with it.
// Sockets whose backend closed them while idle (FIN, reset, idle timeout on the backend) are
// reported dead by the factory's watch and dropped at once; the hand-out checks again, so a
// socket the backend already closed is never given to a client. Every backend socket reads into
// a buffer of its own through `onread` (splice.ts): `socketFactory` spreads `connectOptions` into
// each `net.connect`, so an `onread` getter there runs once per socket and gives each its own.

import type { OnReadOpts, Socket } from 'node:net';
import {
  type ConnectionLease,
  type PoolStats,
  type ResourceFactory,
  type SocketFactory,
  socketFactory,
  type Upstream,
  UpstreamPool,
} from '@proxykit/upstream-pool';
import { backendReadOptions } from './splice.js';

/** Options of {@link WarmPool}. */
export interface WarmPoolOptions {
  /** The backends. */
  readonly backends: readonly Upstream[];
  /** Idle pre-connected sockets kept per backend; 0 keeps none (every connect is on demand). */
  readonly size: number;
  /** Longest TCP connect, in ms. */
  readonly connectTimeoutMs: number;
}

/** A pre-connected socket taken from the pool; `release` ends the lease once the socket is done. */
export interface WarmSocket {
  /** The connected socket, now owned by the caller. */
  readonly socket: Socket;
  /** The pool's lease, to be destroyed when the socket closes. */
  readonly lease: ConnectionLease<Socket>;
}

/**
 * True once the backend's FIN has been read. `readableEnded` says so only after buffered bytes
 * were consumed; an idle socket of a server-speaks-first protocol (MySQL, SMTP) may hold a
 * greeting followed by the FIN, which only the stream's own `ended` flag shows.
 */
function readEof(socket: Socket): boolean {
  if (socket.readableEnded) return true;
  const state = (socket as unknown as { _readableState?: { ended?: boolean } })._readableState;
  return state?.ended === true;
}

/**
 * The warm pool's factory: `socketFactory`'s connect, destroy and death watch, with a hand-out
 * check fit for forwarding. Bytes the backend sent while the socket was idle (a server-first
 * greeting) do not disqualify it — they are the start of the stream the client will read — but a
 * read EOF, a destroyed or a half-closed socket does.
 */
function forwardingFactory(inner: SocketFactory): ResourceFactory<Socket> {
  return {
    create: (upstream, signal) => inner.create(upstream, signal),
    destroy: (socket) => {
      inner.destroy(socket);
    },
    watch: (socket, onDead) => {
      inner.watch(socket, onDead);
    },
    isReusable: (socket) =>
      !socket.destroyed && socket.readyState === 'open' && socket.writable && !readEof(socket),
  };
}

/** Most sockets one backend may have in a worker, pooled and handed out (the pool's `max`). */
const MAX_SOCKETS_PER_BACKEND = 1_000_000;

/**
 * Per-backend pools of pre-connected sockets, plus the on-demand connect used when a pool is
 * empty. Backend sockets are half-open capable (`allowHalfOpen`), Nagle off, keep-alive on, and
 * read through `onread` into a buffer of their own (`backendReadOptions`), so they are meant for
 * `splice`: bytes a socket receives while idle are kept aside for its client, not emitted
 * as 'data'.
 */
export class WarmPool implements AsyncDisposable {
  /** The socket factory (also used for on-demand connects). */
  readonly factory: SocketFactory;
  /** The pool, or `undefined` when `size` is 0. */
  readonly pool: UpstreamPool<Socket> | undefined;

  /** @throws RangeError naming an invalid option */
  constructor(options: WarmPoolOptions) {
    this.factory = socketFactory({
      connectTimeoutMs: options.connectTimeoutMs,
      connectOptions: {
        allowHalfOpen: true,
        // Read once per `net.connect` (the factory spreads these options): a new buffer each.
        get onread(): OnReadOpts {
          return backendReadOptions();
        },
      },
    });
    this.pool =
      options.size === 0
        ? undefined
        : new UpstreamPool<Socket>({
            factory: forwardingFactory(this.factory),
            min: options.size,
            max: MAX_SOCKETS_PER_BACKEND,
            // Warm sockets are kept however long they idle; the backend decides when to close.
            idleTimeoutMs: Infinity,
            createTimeoutMs: options.connectTimeoutMs * 2,
            upstreams: options.backends,
          });
  }

  /**
   * A pre-connected idle socket to `backend` if one is ready now (never waits, never connects).
   * Taking one makes the pool connect a replacement in the background.
   */
  take(backend: Upstream): WarmSocket | undefined {
    const pool = this.pool;
    if (pool === undefined) return undefined;
    for (;;) {
      const lease = pool.tryAcquire(backend);
      if (lease === undefined) return undefined;
      const socket = lease.resource;
      // The pool checked it; check the read side once more (an EOF read in this very turn).
      if (readEof(socket) || !socket.readable || socket.destroyed) {
        lease.destroy(new Error('closed by the backend while idle'));
        continue;
      }
      return { socket, lease };
    }
  }

  /** Connects a new socket to `backend`; rejects with the connect error, on timeout or abort. */
  connect(backend: Upstream, signal: AbortSignal): Promise<Socket> {
    return this.factory.create(backend, signal);
  }

  /** Pool counters for `backend`, or summed over all. */
  stats(backend?: Upstream): PoolStats | undefined {
    return this.pool?.stats(backend);
  }

  /** Destroys the idle sockets and stops refilling. Sockets handed out are the caller's. */
  async close(): Promise<void> {
    await this.pool?.close({ graceMs: 0 });
  }

  /** Same as {@link WarmPool.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
