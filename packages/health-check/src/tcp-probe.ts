/**
 * Why: the L4 forwarder's backends may speak any protocol, so the one question every backend can
 * answer is "do you accept a connection?" — HAProxy's default `check` on a TCP backend, Envoy's
 * TCP health checker with no payload, Kubernetes' `tcpSocket` probe. Connect, then close at once;
 * the socket is gone by the time the promise settles, so probes never leak sockets.
 */
import { connect, type Socket } from 'node:net';
import { abortReason, onAbort } from '@proxykit/core';
import type { HealthProbe, HealthTarget } from './health-probe.js';

/** Options of {@link TcpProbe}. */
export interface TcpProbeOptions {
  /** Connect to this host instead of the target's (e.g. a sidecar's address). */
  readonly host?: string;
  /** Connect to this port instead of the target's (e.g. a separate health port). */
  readonly port?: number;
}

/**
 * Succeeds when a TCP connection to the target can be established. A server that accepts but
 * never answers passes this probe; use an HTTP or custom probe to check that it answers.
 *
 * @example
 * ```ts
 * const checker = new ActiveHealthChecker({ probe: new TcpProbe(), intervalMs: 2_000 });
 * ```
 */
export class TcpProbe implements HealthProbe {
  readonly #host: string | undefined;
  readonly #port: number | undefined;

  /** @throws RangeError when `port` is not an integer in [1, 65535] */
  constructor(options: TcpProbeOptions = {}) {
    const { host, port } = options;
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
      throw new RangeError(
        `TcpProbe: port must be an integer in [1, 65535], got ${JSON.stringify(port)}`,
      );
    }
    this.#host = host;
    this.#port = port;
  }

  /** Connects to the target and closes the connection; rejects with the connect error. */
  probe(target: HealthTarget, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise<void>((resolve, reject) => {
      let failure: unknown;
      let connected = false;
      const socket: Socket = connect({
        host: this.#host ?? target.host,
        port: this.#port ?? target.port,
      });
      const detach = onAbort(signal, () => {
        failure ??= abortReason(signal);
        socket.destroy();
      });
      socket.once('connect', () => {
        connected = true;
        socket.destroy();
      });
      socket.on('error', (error) => {
        failure ??= error;
      });
      // Settle once the socket is closed, so no handle outlives the probe.
      socket.once('close', () => {
        detach();
        if (connected && failure === undefined) {
          resolve();
          return;
        }
        const reason: unknown =
          failure === undefined
            ? new Error(`TCP probe of ${target.name}: connection closed`)
            : failure;
        reject(reason);
      });
    });
  }
}
