/**
 * Why: how `proxykit-proxy` runs as a process. One process serves by default; with
 * `REVERSE_PROXY_WORKERS` > 1 a `node:cluster` primary forks that many workers which each run a
 * proxy on the shared port (the primary accepts and hands connections out round robin, which
 * works on every supported Node), as nginx's master/worker model and the Node cluster docs
 * describe. Every process drains on SIGTERM/SIGINT the same way — readiness fails, the listener
 * closes, requests in flight finish within the grace period — and exits 0; a second signal exits
 * at once. The primary forwards the shutdown to its workers, waits for them, and restarts a worker
 * that dies unexpectedly, but only a few times a minute, so a crash loop ends the program instead
 * of spinning. In demo mode the primary owns the demo upstreams and relays the status page's
 * "make it fail" switch between workers, so every worker shows and changes the same state.
 */
import cluster, { type Worker } from 'node:cluster';
import { requireInteger } from '@proxykit/core';
import type { Logger } from 'pino';
import type { DemoUpstreams } from './demo-upstreams.js';
import type { ProxyConfig } from './proxy-config.js';
import type { DemoControl } from './proxy-observer.js';
import { createProxy, type Proxy, type ProxyAddress } from './proxy.js';

/** The environment variable that marks a cluster worker and carries its start-up data (JSON). */
export const WORKER_ENV = 'PROXYKIT_PROXY_WORKER';

/** Restarts allowed within {@link RESTART_WINDOW_MS} before the primary gives up. */
export const MAX_RESTARTS = 5;

/** The window over which restarts are counted, in ms. */
export const RESTART_WINDOW_MS = 60_000;

const RESTART_DELAY_MS = 1_000;
/** How long past the grace period the primary waits before killing workers that did not exit. */
const KILL_MARGIN_MS = 5_000;

/**
 * Decides whether a dead worker may be restarted: at most `max` restarts within any `windowMs`,
 * so a worker that dies at start-up every time ends the program instead of looping.
 */
export class RestartBudget {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #times: number[] = [];

  /**
   * @param max - Restarts allowed per window, an integer >= 0 (default {@link MAX_RESTARTS}).
   * @param windowMs - The window in ms, an integer >= 1 (default {@link RESTART_WINDOW_MS}).
   */
  constructor(max: number = MAX_RESTARTS, windowMs: number = RESTART_WINDOW_MS) {
    this.#max = requireInteger('RestartBudget', 'max', max, 0);
    this.#windowMs = requireInteger('RestartBudget', 'windowMs', windowMs, 1);
  }

  /** Records a restart at `now` (ms) and returns true, or returns false when the budget is spent. */
  tryRestart(now: number): boolean {
    while (this.#times.length > 0 && (this.#times[0] ?? 0) <= now - this.#windowMs) {
      this.#times.shift();
    }
    if (this.#times.length >= this.#max) return false;
    this.#times.push(now);
    return true;
  }
}

/** The demo upstreams and whether each is failing, as relayed between primary and workers. */
type DemoStates = ReturnType<DemoControl['upstreams']>;

/** What a worker is started with (in {@link WORKER_ENV}). */
export interface WorkerInit {
  /** Worker number, from 1. */
  readonly worker: number;
  /** The upstreams to proxy (the primary's demo upstreams in demo mode). */
  readonly upstreams: readonly string[];
  /** The demo upstreams' state, in demo mode. */
  readonly demo?: ReturnType<DemoControl['upstreams']>;
}

/** Messages between the primary and its workers (over the cluster's IPC channel). */
export type WorkerMessage =
  | {
      /** Worker → primary: the worker's proxy listens. */
      readonly proxy: 'listening';
      /** Where it listens. */
      readonly address: ProxyAddress;
    }
  | {
      /** Worker → primary: the worker could not start. */
      readonly proxy: 'failed';
      /** Why. */
      readonly message: string;
    }
  | {
      /** Primary → worker: drain and exit. */
      readonly proxy: 'shutdown';
    }
  | {
      /** Worker → primary: the status page flipped a demo upstream. */
      readonly proxy: 'demo-set';
      /** The demo upstream's name. */
      readonly name: string;
      /** Its new state. */
      readonly failing: boolean;
    }
  | {
      /** Primary → workers: the demo upstreams' state after a change. */
      readonly proxy: 'demo-state';
      /** Every demo upstream. */
      readonly upstreams: ReturnType<DemoControl['upstreams']>;
    };

/** What a running proxy process needs from the CLI. */
export interface RunOptions {
  /** The validated configuration (`upstreams` already set, demo ones included). */
  readonly config: ProxyConfig;
  /** Where the process logs. */
  readonly logger: Logger;
  /** The demo upstreams when running in demo mode. */
  readonly demo?: DemoUpstreams;
}

const EXIT_CODE_BY_SIGNAL: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Calls `stop` on the first SIGTERM or SIGINT; a second one exits at once (code 130 for SIGINT,
 * 143 for SIGTERM, as a shell reports a killed process).
 */
function onShutdownSignal(logger: Logger, stop: (signal: string) => void): void {
  let stopping = false;
  const handle = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(EXIT_CODE_BY_SIGNAL[signal] ?? 1);
    }
    stopping = true;
    stop(signal);
  };
  process.on('SIGTERM', handle);
  process.on('SIGINT', handle);
}

/** Exits with `code` once the logger's buffered lines are written (pino writes asynchronously). */
function exitAfterFlush(logger: Logger, code: number): void {
  const exit = (): void => {
    process.exit(code);
  };
  setTimeout(exit, 2_000).unref();
  logger.flush(exit);
}

function isMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && 'proxy' in value;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Logs where the proxy listens and where its status page is. */
function logListening(
  logger: Logger,
  config: ProxyConfig,
  address: ProxyAddress,
  workers: number,
): void {
  const status = `${address.url}/status`;
  logger.info(
    {
      url: address.url,
      status,
      workers,
      upstreams: config.upstreams,
      ...(config.metricsBearerToken === '' ? {} : { statusAuth: 'bearer token or ?token=' }),
    },
    `proxykit-proxy listening on ${address.url} (status page ${status})`,
  );
}

/** Shuts `proxy` down gracefully (closing the demo upstreams after it) and exits 0. */
async function drainAndExit(
  proxy: Proxy,
  logger: Logger,
  demo: DemoUpstreams | undefined,
  reason: string,
): Promise<void> {
  // Readiness fails and the listener closes synchronously inside shutdown(); the line says so.
  const drained = proxy.shutdown();
  logger.info(
    { reason, graceSeconds: proxy.config.shutdownGraceSeconds },
    'shutting down: draining connections',
  );
  try {
    await drained;
    await demo?.close();
    logger.info('stopped');
    exitAfterFlush(logger, 0);
  } catch (error) {
    logger.error({ err: error }, 'shutdown failed');
    exitAfterFlush(logger, 1);
  }
}

/** Runs one proxy in this process until SIGTERM/SIGINT, then drains and exits 0. */
export async function runSingle(options: RunOptions): Promise<void> {
  const { config, logger, demo } = options;
  const proxy = createProxy({
    ...config,
    logger,
    ...(demo === undefined ? {} : { demo: demo.control }),
  });
  onShutdownSignal(logger, (signal) => {
    void drainAndExit(proxy, logger, demo, signal);
  });
  const address = await proxy.listen();
  logListening(logger, config, address, 1);
}

/** The demo switch inside a worker: a local copy of the primary's state; changes go through it. */
class RelayedDemoControl implements DemoControl {
  #state: DemoStates;

  constructor(state: DemoStates) {
    this.#state = state;
  }

  upstreams(): DemoStates {
    return this.#state;
  }

  setFailing(name: string, failing: boolean): void {
    if (!this.#state.some((s) => s.name === name)) {
      throw new RangeError(`DemoControl: no demo upstream named ${JSON.stringify(name)}`);
    }
    // Applied here at once, so the page that asked sees it; the primary then tells everyone.
    this.#state = this.#state.map((s) => (s.name === name ? { name, failing } : s));
    process.send?.({ proxy: 'demo-set', name, failing } satisfies WorkerMessage);
  }

  update(state: DemoStates): void {
    this.#state = state;
  }
}

/** Reads this process's {@link WorkerInit} when it is a cluster worker started by {@link runPrimary}. */
export function workerInit(
  env: Readonly<Record<string, string | undefined>>,
): WorkerInit | undefined {
  const raw = env[WORKER_ENV];
  if (!cluster.isWorker || raw === undefined) return undefined;
  return JSON.parse(raw) as WorkerInit;
}

/**
 * Runs a cluster worker: one proxy on the shared port, reporting `listening` (or `failed`) to the
 * primary; drains and exits 0 when the primary says so, on SIGTERM/SIGINT, or when the primary
 * goes away.
 */
export async function runWorker(
  options: RunOptions & { readonly init: WorkerInit },
): Promise<void> {
  const { init } = options;
  const logger = options.logger.child({ worker: init.worker, pid: process.pid });
  const config: ProxyConfig = { ...options.config, upstreams: init.upstreams };
  const demo = init.demo === undefined ? undefined : new RelayedDemoControl(init.demo);
  let proxy: Proxy;
  try {
    proxy = createProxy({ ...config, logger, ...(demo === undefined ? {} : { demo }) });
  } catch (error) {
    process.send?.({ proxy: 'failed', message: describeError(error) } satisfies WorkerMessage);
    process.exit(1);
  }
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    void drainAndExit(proxy, logger, undefined, reason);
  };
  onShutdownSignal(logger, stop);
  process.on('message', (message: unknown) => {
    if (!isMessage(message)) return;
    if (message.proxy === 'shutdown') stop('primary');
    else if (message.proxy === 'demo-state') demo?.update(message.upstreams);
  });
  process.once('disconnect', () => {
    stop('primary gone');
  });
  try {
    const address = await proxy.listen();
    logger.info({ url: address.url }, `worker ${String(init.worker)} listening`);
    process.send?.({ proxy: 'listening', address } satisfies WorkerMessage);
  } catch (error) {
    logger.error({ err: error }, 'could not listen');
    process.send?.({ proxy: 'failed', message: describeError(error) } satisfies WorkerMessage);
    exitAfterFlush(logger, 1);
  }
}

/**
 * Runs the cluster primary: forks `config.workers` workers, logs once they all listen, restarts
 * a worker that dies unexpectedly (at most {@link MAX_RESTARTS} per minute, then stops everything
 * and exits 1), and on SIGTERM/SIGINT tells every worker to drain, waits for them (killing those
 * still alive well after the grace period), closes the demo upstreams and exits 0.
 */
export async function runPrimary(options: RunOptions): Promise<void> {
  const { config, demo } = options;
  const logger = options.logger.child({ pid: process.pid });
  const members = new Map<Worker, number>();
  const restarts = new RestartBudget();
  let stopping = false;

  const broadcast = (message: WorkerMessage): void => {
    for (const worker of members.keys()) {
      if (worker.isConnected()) worker.send(message);
    }
  };

  let stopped: Promise<void> | undefined;
  const stopAll = (exitCode: number, reason: string): Promise<void> =>
    (stopped ??= stopWorkers(exitCode, reason));
  const stopWorkers = async (exitCode: number, reason: string): Promise<void> => {
    stopping = true;
    logger.info(
      { reason, graceSeconds: config.shutdownGraceSeconds, workers: members.size },
      'shutting down: draining workers',
    );
    const alive = [...members.keys()];
    for (const worker of alive) {
      if (worker.isConnected()) worker.send({ proxy: 'shutdown' } satisfies WorkerMessage);
      else worker.process.kill('SIGTERM');
    }
    const killer = setTimeout(
      () => {
        for (const worker of alive) worker.process.kill('SIGKILL');
      },
      config.shutdownGraceSeconds * 1000 + KILL_MARGIN_MS,
    );
    await Promise.all(
      alive.map((worker) =>
        worker.isDead()
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              worker.once('exit', () => {
                resolve();
              });
            }),
      ),
    );
    clearTimeout(killer);
    await demo?.close();
    logger.info('stopped');
    exitAfterFlush(logger, exitCode);
  };

  const fork = (n: number): Promise<ProxyAddress> => {
    const init: WorkerInit = {
      worker: n,
      upstreams: config.upstreams,
      ...(demo === undefined ? {} : { demo: demo.control.upstreams() }),
    };
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(init) });
    members.set(worker, n);
    // A message to a worker that just died fails with EPIPE; its 'exit' is what counts.
    worker.on('error', () => undefined);
    return new Promise<ProxyAddress>((resolve, reject) => {
      let started = false;
      worker.on('message', (message: unknown) => {
        if (!isMessage(message)) return;
        if (message.proxy === 'listening') {
          started = true;
          resolve(message.address);
        } else if (message.proxy === 'failed') {
          reject(new Error(`worker ${String(n)} could not start: ${message.message}`));
        } else if (message.proxy === 'demo-set' && demo !== undefined) {
          try {
            demo.control.setFailing(message.name, message.failing);
          } catch {
            // An unknown name: the worker already refused it.
          }
          broadcast({ proxy: 'demo-state', upstreams: demo.control.upstreams() });
        }
      });
      worker.once('exit', (code, signal) => {
        members.delete(worker);
        if (!started) {
          reject(
            new Error(
              `worker ${String(n)} exited before listening (code ${String(code)}, signal ${signal})`,
            ),
          );
          return;
        }
        if (stopping) return;
        logger.error({ worker: n, code, signal }, 'worker died unexpectedly');
        restart(n);
      });
    });
  };

  const restart = (n: number): void => {
    if (!restarts.tryRestart(Date.now())) {
      logger.error(
        { maxRestarts: MAX_RESTARTS, windowSeconds: RESTART_WINDOW_MS / 1000 },
        'workers keep dying: giving up',
      );
      void stopAll(1, 'crash loop');
      return;
    }
    setTimeout(() => {
      if (stopping) return;
      logger.info({ worker: n }, 'restarting worker');
      fork(n).catch((error: unknown) => {
        logger.error({ worker: n, err: error }, 'restarted worker failed');
        if (!stopping) restart(n);
      });
    }, RESTART_DELAY_MS);
  };

  onShutdownSignal(logger, (signal) => {
    void stopAll(0, signal);
  });

  try {
    const addresses = await Promise.all(
      Array.from({ length: config.workers }, (_, i) => fork(i + 1)),
    );
    const address = addresses[0];
    if (address !== undefined) logListening(logger, config, address, config.workers);
  } catch (error) {
    // (After a signal during start-up, stopAll is already under way and this joins it.)
    logger.error({ err: error }, describeError(error));
    await stopAll(1, 'start-up failed');
  }
}
