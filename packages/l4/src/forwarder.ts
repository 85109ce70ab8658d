// Why: the forwarder of the seed — accept, choose a backend, forward bytes both ways — built from
// our packages: the backend selector (load balancer, TCP health checks, per-backend breakers),
// the warm pool (upstream-pool with `min`), the hand-written splice, and per-worker counters.
// A client first gets a pre-connected socket from the warm pool when one is ready (no handshake
// on the client's time); otherwise the forwarder connects, and when that connect fails it tries
// another backend — the client's bytes wait meanwhile (copied aside up to 16 KiB, then unread in
// its socket) and go out only once a connect succeeded, so none is lost or sent twice (HAProxy's
// `retries` + `option redispatch`). With `workers > 1`, `createForwarder`
// runs the same engine in worker processes (see workers.ts) and aggregates their counters.

import { once } from 'node:events';
import {
  type AddressInfo,
  createServer,
  type ListenOptions,
  type Server,
  type Socket,
} from 'node:net';
import { performance } from 'node:perf_hooks';
import type { CallContext } from '@proxykit/core';
import type { ConnectionLease } from '@proxykit/upstream-pool';
import { Upstream } from '@proxykit/upstream-pool';
import type { UpstreamEntry } from '@proxykit/load-balancer';
import { BackendSelector } from './backend-selector.js';
import {
  type ForwarderConfig,
  type ForwarderOptions,
  resolveForwarderConfig,
} from './forwarder-config.js';
import { type MetricsServer, startMetricsServer } from './metrics-server.js';
import { encodeProxyHeader } from './proxy-protocol.js';
import { splice, withOwnReadBuffer } from './splice.js';
import { WarmPool } from './warm-pool.js';
import { type CounterSnapshot, mergeSnapshots, WorkerCounters } from './worker-counters.js';
import { type Distribution, startWorkerGroup, type WorkerGroup } from './workers.js';

/** The address a forwarder listens on. */
export interface ForwarderAddress {
  /** The bound address, e.g. `127.0.0.1`. */
  readonly host: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** `IPv4` or `IPv6`. */
  readonly family: string;
}

/** Counters of a forwarder: per worker and summed. */
export interface ForwarderStats {
  /** How connections reach workers. */
  readonly distribution: Distribution;
  /** One snapshot per live worker (one for an in-process forwarder). */
  readonly workers: readonly CounterSnapshot[];
  /** The sum of `workers`. */
  readonly total: CounterSnapshot;
}

/** A TCP forwarder (see {@link createForwarder}). */
export interface Forwarder extends AsyncDisposable {
  /** The validated configuration. */
  readonly config: ForwarderConfig;
  /** Where clients connect, once `listen()` resolved. */
  readonly address: ForwarderAddress | undefined;
  /** Where `/metrics` and `/healthz` are served, once `listen()` resolved (if configured). */
  readonly metricsAddress: ForwarderAddress | undefined;
  /** How connections reach workers, once `listen()` resolved. */
  readonly distribution: Distribution | undefined;
  /** Binds the listener (starting the workers) and resolves with its address. */
  listen(): Promise<ForwarderAddress>;
  /**
   * Stops accepting, lets open connections finish for up to `graceMs` (default: the configured
   * `shutdownGraceSeconds`), closes the rest, then releases everything.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** Closes everything now (a shutdown with no grace). */
  close(): Promise<void>;
  /** The counters now, per worker and summed. */
  stats(): Promise<ForwarderStats>;
}

/** Options of the in-process engine that are not configuration. */
export interface LocalForwarderOptions {
  /** Worker number reported in counters (0 for a forwarder running in the caller's process). */
  readonly worker?: number;
  /** Bind with `SO_REUSEPORT` (each worker its own listener on the same port). */
  readonly reusePort?: boolean;
}

/** @internal one client connection's state */
interface Connection {
  readonly client: Socket;
  readonly startedAt: number;
  backend: Socket | undefined;
  entry: UpstreamEntry<Upstream> | undefined;
  lease: ConnectionLease<Socket> | undefined;
  lbStartedAt: number;
  controller: AbortController | undefined;
  tried: string[] | undefined;
}

const CONNECTION = Symbol('proxykit.l4.connection');
type ClientSocket = Socket & { [CONNECTION]?: Connection };

function ignoreError(): void {
  // Errors are handled through 'close' and the connect promise.
}

/** Read through a call, so that a check after an `await` is not narrowed away. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function abortOnClose(this: ClientSocket): void {
  this[CONNECTION]?.controller?.abort(new Error('client closed while connecting'));
}

/**
 * The forwarding engine of one process: one listener, its backends' selector and warm pool, its
 * counters. `createForwarder` uses it directly for `workers: 1` and in each worker process.
 */
export class LocalForwarder implements AsyncDisposable {
  /** The validated configuration. */
  readonly config: ForwarderConfig;
  /** This engine's counters. */
  readonly counters: WorkerCounters;
  /** The backends, as upstreams named `host:port`. */
  readonly backends: readonly Upstream[];
  readonly #reusePort: boolean;
  readonly #active = new Set<Connection>();
  readonly #server: Server;
  readonly #done: (client: Socket) => void;
  readonly #onConnection: (client: Socket) => void;
  #selector: BackendSelector | undefined;
  #pool: WarmPool | undefined;
  #address: ForwarderAddress | undefined;
  #draining = false;
  #drained: (() => void) | undefined;
  #closed: Promise<void> | undefined;

  /** @throws RangeError or TypeError naming the first invalid field */
  constructor(options: ForwarderOptions | ForwarderConfig, local: LocalForwarderOptions = {}) {
    this.config = resolveForwarderConfig(options);
    this.backends = this.config.backends.map((name) => Upstream.parse(`tcp://${name}`, { name }));
    this.counters = new WorkerCounters(local.worker ?? 0, this.config.backends);
    this.#reusePort = local.reusePort ?? false;
    this.#done = (client) => {
      this.#finish(client);
    };
    this.#onConnection = (accepted) => {
      this.#accept(withOwnReadBuffer(accepted));
    };
    // Accepted paused: withOwnReadBuffer moves the connection to a socket reading into its own
    // buffer before any byte is read.
    this.#server = createServer(
      { allowHalfOpen: true, noDelay: true, pauseOnConnect: true },
      this.#onConnection,
    );
  }

  /** The address, once listening. */
  get address(): ForwarderAddress | undefined {
    return this.#address;
  }

  /** True until a shutdown starts. */
  get serving(): boolean {
    return this.#address !== undefined && !this.#draining;
  }

  /** Client connections open now. */
  get activeConnections(): number {
    return this.#active.size;
  }

  /** The selector (load balancer, health checks, breakers), once listening. */
  get selector(): BackendSelector | undefined {
    return this.#selector;
  }

  /** The warm pool, once listening. */
  get warmPool(): WarmPool | undefined {
    return this.#pool;
  }

  /** Starts health checks and the warm pool, binds, and resolves with the address. */
  async listen(port: number = this.config.listen.port): Promise<ForwarderAddress> {
    if (this.#address !== undefined) return this.#address;
    const config = this.config;
    this.#selector ??= new BackendSelector({
      backends: this.backends,
      lb: config.lb,
      healthCheck: config.healthCheck,
      healthCheckIntervalMs: config.healthCheckIntervalSecs * 1_000,
      healthCheckTimeoutMs: config.connectTimeoutMs,
      unhealthyThreshold: config.unhealthyThreshold,
      healthyThreshold: config.healthyThreshold,
      breakerFailureThreshold: config.breakerFailureThreshold,
      breakerOpenMs: config.breakerOpenMs,
    });
    this.#pool ??= new WarmPool({
      backends: this.backends,
      size: config.warmPoolSize,
      connectTimeoutMs: config.connectTimeoutMs,
    });
    const listenOptions = {
      host: config.listen.host,
      port,
      backlog: 1_024,
      ...(this.#reusePort ? { reusePort: true } : {}),
    } as ListenOptions;
    this.#server.listen(listenOptions);
    try {
      await once(this.#server, 'listening');
    } catch (error) {
      await this.#release();
      throw error;
    }
    const address = this.#server.address() as AddressInfo;
    this.#address = { host: address.address, port: address.port, family: address.family };
    return this.#address;
  }

  /** A snapshot of the counters, bytes of open connections included. */
  snapshot(): CounterSnapshot {
    let fromClients = 0;
    let toClients = 0;
    for (const connection of this.#active) {
      fromClients += connection.client.bytesRead;
      toClients += connection.client.bytesWritten;
    }
    return this.counters.snapshot(fromClients, toClients);
  }

  /** Stops accepting, waits up to `graceMs` for open connections, closes the rest, releases all. */
  shutdown(graceMs: number = this.config.shutdownGraceSeconds * 1_000): Promise<void> {
    this.#closed ??= this.#shutdown(graceMs);
    return this.#closed;
  }

  /** Closes everything now. */
  close(): Promise<void> {
    return this.shutdown(0);
  }

  /** Same as {@link LocalForwarder.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => {
        resolve();
      });
    });
    if (this.#active.size > 0 && graceMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#drained = undefined;
    for (const connection of this.#active) {
      connection.controller?.abort(new Error('forwarder closed'));
      connection.client.destroy();
      connection.backend?.destroy();
    }
    await closed;
    await this.#release();
  }

  async #release(): Promise<void> {
    await Promise.all([this.#pool?.close(), this.#selector?.close()]);
  }

  #accept(client: ClientSocket): void {
    const counters = this.counters;
    counters.connectionsActive++;
    counters.connectionsTotal++;
    const connection: Connection = {
      client,
      startedAt: performance.now(),
      backend: undefined,
      entry: undefined,
      lease: undefined,
      lbStartedAt: 0,
      controller: undefined,
      tried: undefined,
    };
    client[CONNECTION] = connection;
    this.#active.add(connection);
    if (this.#draining) {
      client.destroy();
      this.#finish(client);
      return;
    }
    const selector = this.#selector;
    const pool = this.#pool;
    if (selector === undefined || pool === undefined) return;
    const key = this.config.lb === 'maglev' ? client.remoteAddress : undefined;
    const entry = selector.pick(key);
    if (entry !== undefined) {
      const warm = pool.take(entry.upstream);
      if (warm !== undefined) {
        this.#connected(connection, entry, warm.socket, warm.lease);
        return;
      }
    }
    client.on('error', ignoreError);
    client.once('close', abortOnClose);
    void this.#connectCold(connection, entry, key);
  }

  async #connectCold(
    connection: Connection,
    first: UpstreamEntry<Upstream> | undefined,
    key: string | undefined,
  ): Promise<void> {
    const { client } = connection;
    const selector = this.#selector;
    const pool = this.#pool;
    if (selector === undefined || pool === undefined) return;
    const controller = new AbortController();
    connection.controller = controller;
    let entry = first;
    while (entry !== undefined && !controller.signal.aborted) {
      const upstream = entry.upstream;
      try {
        const socket = await selector.breakers.execute(
          entry.name,
          (ctx: CallContext) => pool.connect(upstream, ctx.signal),
          controller.signal,
        );
        client.removeListener('close', abortOnClose);
        connection.controller = undefined;
        if (client.destroyed) {
          socket.destroy();
          this.#finish(client);
          return;
        }
        this.#connected(connection, entry, socket, undefined);
        return;
      } catch {
        if (isAborted(controller.signal)) break;
        this.counters.connectErrors++;
        this.counters.backend(entry.name).connectErrors++;
        (connection.tried ??= []).push(entry.name);
        entry = selector.pick(key, connection.tried);
      }
    }
    client.removeListener('close', abortOnClose);
    connection.controller = undefined;
    if (!controller.signal.aborted) this.counters.noBackend++;
    client.destroy();
    this.#finish(client);
  }

  #connected(
    connection: Connection,
    entry: UpstreamEntry<Upstream>,
    backend: Socket,
    lease: ConnectionLease<Socket> | undefined,
  ): void {
    const counters = this.counters;
    connection.backend = backend;
    connection.entry = entry;
    connection.lease = lease;
    connection.lbStartedAt = this.#selector?.balancer.begin(entry) ?? 0;
    const backendCounters = counters.backend(entry.name);
    backendCounters.chosen++;
    if (lease !== undefined) backendCounters.warm++;
    counters.observeConnect((performance.now() - connection.startedAt) / 1_000);
    const mode = this.config.proxyProtocol;
    const client = connection.client;
    if (mode !== 'off') {
      backend.write(
        encodeProxyHeader(mode, {
          sourceAddress: client.remoteAddress,
          sourcePort: client.remotePort,
          destinationAddress: client.localAddress,
          destinationPort: client.localPort,
        }),
      );
    }
    splice(client, backend, this.config.idleTimeoutMs, this.#done);
  }

  #finish(client: ClientSocket): void {
    const connection = client[CONNECTION];
    if (connection === undefined || !this.#active.delete(connection)) return;
    const counters = this.counters;
    counters.connectionsActive--;
    counters.bytesFromClients += client.bytesRead;
    counters.bytesToClients += client.bytesWritten;
    const entry = connection.entry;
    if (entry !== undefined) this.#selector?.balancer.end(entry, connection.lbStartedAt);
    connection.lease?.destroy();
    if (this.#active.size === 0) this.#drained?.();
  }
}

/**
 * Creates a TCP forwarder. Call `listen()` to start it. With `workers: 1` (the default) it
 * forwards in this process; with more, it starts that many worker processes, each with its own
 * warm pool, health checks and counters, sharing the port through `SO_REUSEPORT` where the
 * running Node supports it (≥ 22.12 / 23.1) and through `node:cluster` otherwise. `metricsListen`
 * serves `/metrics` (the workers' counters summed) and `/healthz`.
 *
 * @example
 * ```ts
 * await using forwarder = createForwarder({ listen: '127.0.0.1:0', backends: ['127.0.0.1:6379'] });
 * const { port } = await forwarder.listen();
 * ```
 *
 * @throws RangeError or TypeError naming the first invalid field
 */
export function createForwarder(options: ForwarderOptions | ForwarderConfig): Forwarder {
  const config = resolveForwarderConfig(options);
  return config.workers === 1 ? new InProcessForwarder(config) : new MultiProcessForwarder(config);
}

/** A forwarder in the caller's process, with its metrics endpoint. */
class InProcessForwarder implements Forwarder {
  readonly config: ForwarderConfig;
  readonly #engine: LocalForwarder;
  #metrics: MetricsServer | undefined;
  #metricsAddress: ForwarderAddress | undefined;
  #stopped: Promise<void> | undefined;

  constructor(config: ForwarderConfig) {
    this.config = config;
    this.#engine = new LocalForwarder(config);
  }

  get address(): ForwarderAddress | undefined {
    return this.#engine.address;
  }

  get metricsAddress(): ForwarderAddress | undefined {
    return this.#metricsAddress;
  }

  get distribution(): Distribution | undefined {
    return this.#engine.address === undefined ? undefined : 'single';
  }

  async listen(): Promise<ForwarderAddress> {
    const address = await this.#engine.listen();
    const metricsListen = this.config.metricsListen;
    if (metricsListen !== undefined && this.#metrics === undefined) {
      try {
        this.#metrics = await startMetricsServer({
          listen: metricsListen,
          collect: () => Promise.resolve([this.#engine.snapshot()]),
          info: { distribution: 'single', workers: 1 },
          serving: () => this.#engine.serving,
        });
      } catch (error) {
        await this.#engine.close();
        throw error;
      }
      const m = this.#metrics.address;
      this.#metricsAddress = { host: m.address, port: m.port, family: m.family };
    }
    return address;
  }

  shutdown(graceMs?: number): Promise<void> {
    this.#stopped ??= (async () => {
      await this.#engine.shutdown(graceMs);
      await this.#metrics?.close();
    })();
    return this.#stopped;
  }

  close(): Promise<void> {
    return this.shutdown(0);
  }

  stats(): Promise<ForwarderStats> {
    const snapshot = this.#engine.snapshot();
    return Promise.resolve({ distribution: 'single', workers: [snapshot], total: snapshot });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A forwarder whose connections are served by worker processes. */
class MultiProcessForwarder implements Forwarder {
  readonly config: ForwarderConfig;
  #group: WorkerGroup | undefined;
  #starting: Promise<ForwarderAddress> | undefined;
  #metrics: MetricsServer | undefined;
  #metricsAddress: ForwarderAddress | undefined;
  #stopped: Promise<void> | undefined;

  constructor(config: ForwarderConfig) {
    this.config = config;
  }

  get address(): ForwarderAddress | undefined {
    return this.#group?.address;
  }

  get metricsAddress(): ForwarderAddress | undefined {
    return this.#metricsAddress;
  }

  get distribution(): Distribution | undefined {
    return this.#group?.distribution;
  }

  listen(): Promise<ForwarderAddress> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<ForwarderAddress> {
    const group = await startWorkerGroup(this.config);
    this.#group = group;
    const metricsListen = this.config.metricsListen;
    if (metricsListen !== undefined) {
      try {
        this.#metrics = await startMetricsServer({
          listen: metricsListen,
          collect: () => group.collect(),
          info: { distribution: group.distribution, workers: this.config.workers },
          serving: () => group.serving,
        });
      } catch (error) {
        await group.shutdown(0);
        throw error;
      }
      const m = this.#metrics.address;
      this.#metricsAddress = { host: m.address, port: m.port, family: m.family };
    }
    return group.address;
  }

  shutdown(graceMs: number = this.config.shutdownGraceSeconds * 1_000): Promise<void> {
    this.#stopped ??= (async () => {
      await this.#starting?.catch(() => undefined);
      await this.#group?.shutdown(graceMs);
      await this.#metrics?.close();
    })();
    return this.#stopped;
  }

  close(): Promise<void> {
    return this.shutdown(0);
  }

  async stats(): Promise<ForwarderStats> {
    const group = this.#group;
    if (group === undefined) {
      const empty = mergeSnapshots([]);
      return { distribution: 'cluster', workers: [], total: empty };
    }
    const workers = await group.collect();
    return { distribution: group.distribution, workers, total: mergeSnapshots(workers) };
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
