/**
 * Why: the pool's built-in resource is a pre-connected TCP or TLS socket, the L4 forwarder's warm
 * backend connection and an HTTP/1.1 client's keep-alive connection. What makes such a pool safe
 * is the reuse check, which follows Go's net/http idle pool and undici: a socket goes back to the
 * pool only if it is still open both ways with nothing unread (not destroyed, not half-closed, no
 * pending data) and nobody is still reading from it; a socket that closes, ends or errors while
 * idle is taken out of the pool at once, so it is never leased (http.Agent's free-socket
 * listeners). The connect has its own timeout, reported like Node's own connect errors
 * (`code: 'ETIMEDOUT'`), so core's classifier reads it as a timeout and ECONNREFUSED as an
 * unavailable upstream.
 */
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import {
  abortReason,
  type Clock,
  MAX_TIMER_DELAY_MS,
  onAbort,
  requireNumber,
  systemClock,
} from '@proxykit/core';
import type { ResourceFactory } from './resource-factory.js';
import type { Upstream } from './upstream.js';

/** Options of {@link socketFactory}. */
export interface SocketFactoryOptions {
  /** Longest wait for the TCP connect (and TLS handshake), in ms, in (0, 2147483647]; default 10 000. */
  readonly connectTimeoutMs?: number;
  /**
   * TLS options for `https://` and `tls://` upstreams (`ca`, `cert`, `rejectUnauthorized`, …).
   * `servername` defaults to the upstream's host unless it is an IP address.
   */
  readonly tls?: tls.ConnectionOptions;
  /** Disable Nagle's algorithm; default true (a proxy forwards small writes at once). */
  readonly noDelay?: boolean;
  /**
   * TCP keep-alive probes start after this much idle time, in ms; `false` turns them off. Default
   * 30 000: a pooled socket whose peer vanished without a FIN is found out by the kernel.
   */
  readonly keepAliveInitialDelayMs?: number | false;
  /** Further `net.connect` options (`localAddress`, `family`, `lookup`, `autoSelectFamily`, …). */
  readonly connectOptions?: Omit<net.TcpNetConnectOpts, 'host' | 'port' | 'timeout' | 'signal'>;
  /** Time source for the connect timeout; defaults to the system clock. */
  readonly clock?: Clock;
}

const ignoreError = (): void => undefined;

/**
 * Stops a socket's `'data'` flow and returns it to the "no consumer yet" state of a fresh socket.
 * `pause()` alone leaves `readableFlowing === false`, and on a paused stream a new `'data'`
 * listener does not start the flow: the next user's `socket.on('data', …)` would never fire. The
 * tri-state lives in the stream's `_readableState.flowing` (a plain field up to Node 20, an
 * accessor over bit flags since Node 22); setting it to null is what a fresh stream has.
 */
function resetFlowing(socket: Socket): void {
  socket.pause();
  const state = (socket as unknown as { _readableState?: { flowing: boolean | null } })
    ._readableState;
  if (state !== undefined) state.flowing = null;
}

/**
 * The error a connect that took too long rejects with, shaped like Node's own connect errors.
 */
function connectTimeoutError(upstream: Upstream, timeoutMs: number): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(
    `connect ETIMEDOUT ${upstream.host}:${String(upstream.port)} (no connection after ${String(timeoutMs)} ms)`,
  );
  return Object.assign(error, {
    code: 'ETIMEDOUT',
    syscall: 'connect',
    address: upstream.host,
    port: upstream.port,
  });
}

/**
 * Connects, checks and destroys TCP and TLS sockets for an {@link UpstreamPool}. Create it with
 * {@link socketFactory}.
 *
 * Every socket it creates keeps an `'error'` listener for its whole life, so a reset while the
 * socket is idle in the pool (or leased to code that did not listen for errors) never crashes
 * the process; the error still closes the socket, which its holder sees as `'close'`.
 */
export class SocketFactory implements ResourceFactory<Socket> {
  /** The configured connect timeout in ms. */
  readonly connectTimeoutMs: number;
  readonly #tls: tls.ConnectionOptions;
  readonly #noDelay: boolean;
  readonly #keepAliveMs: number | false;
  readonly #connectOptions: Omit<net.TcpNetConnectOpts, 'host' | 'port' | 'timeout' | 'signal'>;
  readonly #clock: Clock;

  /** @throws RangeError naming the first invalid option */
  constructor(options: SocketFactoryOptions = {}) {
    const owner = 'socketFactory';
    this.connectTimeoutMs = requireNumber(
      owner,
      'connectTimeoutMs',
      options.connectTimeoutMs ?? 10_000,
      0,
      MAX_TIMER_DELAY_MS,
    );
    const keepAlive = options.keepAliveInitialDelayMs ?? 30_000;
    this.#keepAliveMs =
      keepAlive === false
        ? false
        : requireNumber(owner, 'keepAliveInitialDelayMs', keepAlive, 0, MAX_TIMER_DELAY_MS, true);
    this.#tls = options.tls ?? {};
    this.#noDelay = options.noDelay ?? true;
    this.#connectOptions = options.connectOptions ?? {};
    this.#clock = options.clock ?? systemClock;
  }

  /** Connects to `upstream` (TLS for `https`/`tls`); rejects with the connect error, on timeout or abort. */
  create(upstream: Upstream, signal: AbortSignal): Promise<Socket> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Socket>((resolve, reject) => {
      const { host, port } = upstream;
      let socket: Socket;
      let readyEvent: string;
      if (upstream.secure) {
        const options = this.#tls;
        const servername = options.servername ?? (net.isIP(host) === 0 ? host : undefined);
        socket = tls.connect({
          ...this.#connectOptions,
          ...options,
          host,
          port,
          ...(servername === undefined ? {} : { servername }),
        });
        readyEvent = 'secureConnect';
      } else {
        socket = net.connect({ ...this.#connectOptions, host, port });
        readyEvent = 'connect';
      }
      socket.setNoDelay(this.#noDelay);
      if (this.#keepAliveMs !== false) socket.setKeepAlive(true, this.#keepAliveMs);
      const cleanup = (): void => {
        timer.cancel();
        detach();
        socket.removeListener(readyEvent, onReady);
        socket.removeListener('error', fail);
      };
      const onReady = (): void => {
        cleanup();
        socket.on('error', ignoreError);
        resolve(socket);
      };
      const fail = (error: unknown): void => {
        cleanup();
        socket.on('error', ignoreError);
        socket.destroy();
        reject(error);
      };
      socket.once(readyEvent, onReady);
      socket.once('error', fail);
      const timer = this.#clock.setTimer(() => {
        fail(connectTimeoutError(upstream, this.connectTimeoutMs));
      }, this.connectTimeoutMs);
      const detach = onAbort(signal, () => {
        fail(abortReason(signal));
      });
    });
  }

  /** Destroys the socket. */
  destroy(socket: Socket): void {
    socket.destroy();
  }

  /**
   * True when the socket is open both ways with nothing unread: not destroyed, connected, neither
   * side ended (not half-closed), no data waiting in its buffer.
   */
  isReusable(socket: Socket): boolean {
    return (
      !socket.destroyed &&
      socket.readyState === 'open' &&
      socket.readable &&
      socket.writable &&
      socket.readableLength === 0
    );
  }

  /**
   * Readies a released socket for its next user: refuses it if someone is still reading from it
   * (a `'data'` or `'readable'` listener, e.g. a pipe that was never undone) or set an encoding on
   * it, since the next user's bytes would go to them; stops the flow of `'data'` events and puts
   * the socket back in the state of a fresh one (`readableFlowing === null`), so bytes that
   * arrive while it is idle stay in its buffer (where {@link SocketFactory.isReusable} sees them)
   * instead of being lost, and the next user's first `'data'` listener starts the flow again as
   * on a new socket; clears an inactivity timeout; then applies {@link SocketFactory.isReusable}.
   */
  recycle(socket: Socket): boolean {
    if (
      socket.listenerCount('data') > 0 ||
      socket.listenerCount('readable') > 0 ||
      socket.readableEncoding !== null
    ) {
      return false;
    }
    if (socket.readableFlowing !== null) resetFlowing(socket);
    if (socket.timeout !== undefined && socket.timeout > 0) socket.setTimeout(0);
    return this.isReusable(socket);
  }

  /** Reports the socket dead when it closes, ends (half-close from the peer) or errors. */
  watch(socket: Socket, onDead: (reason?: unknown) => void): void {
    const dead = (): void => {
      onDead();
    };
    socket.once('end', dead);
    socket.once('close', dead);
    socket.on('error', onDead);
  }
}

/**
 * The built-in resource factory: TCP sockets for `http://` and `tcp://` upstreams, TLS sockets
 * for `https://` and `tls://`, with a connect timeout, reuse checks and idle death detection.
 *
 * @example
 * ```ts
 * const pool = new UpstreamPool({ factory: socketFactory({ connectTimeoutMs: 2_000 }), min: 2 });
 * ```
 *
 * @throws RangeError naming the first invalid option
 */
export function socketFactory(options: SocketFactoryOptions = {}): SocketFactory {
  return new SocketFactory(options);
}
