// Why: the seed runs one thread per core with SO_REUSEPORT, so the kernel spreads connections
// over listeners that share nothing. A Node worker is a process. Where the running Node can bind
// with `reusePort` (≥ 22.12 and ≥ 23.1 on Linux; checked at run time by binding two listeners to
// one port, since older versions ignore the option silently), each worker binds its own listener
// on the same port and the kernel shards; elsewhere `node:cluster` lets the primary accept and
// hand connections out round robin. Either way the primary supervises: it restarts a worker
// that dies, asks every worker for its counters over IPC when `/metrics` is scraped, and drains
// them all on shutdown.

import cluster from 'node:cluster';
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer, type ListenOptions, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ForwarderConfig } from './forwarder-config.js';
import type { CounterSnapshot } from './worker-counters.js';

/** How client connections reach the forwarder's workers. */
export type Distribution = 'single' | 'reuseport' | 'cluster';

/** The environment variable carrying a worker's start-up data (JSON). */
export const WORKER_ENV = 'PROXYKIT_L4_WORKER';

/** What a worker is started with. */
export interface WorkerInit {
  /** The forwarder's configuration. */
  readonly config: ForwarderConfig;
  /** Worker number, from 1. */
  readonly worker: number;
  /** Bind with `reusePort`. */
  readonly reusePort: boolean;
  /** Port to bind (the first worker's real port once known). */
  readonly port: number;
}

/** Messages between the primary and a worker. */
export type WorkerMessage =
  | { readonly l4: 'listening'; readonly address: { host: string; port: number; family: string } }
  | { readonly l4: 'failed'; readonly message: string }
  | { readonly l4: 'stats-request'; readonly id: number }
  | { readonly l4: 'stats'; readonly id: number; readonly snapshot: CounterSnapshot }
  | { readonly l4: 'shutdown'; readonly graceMs: number };

/**
 * True when `version` (default: the running Node's) has `reusePort` in `net.Server.listen`:
 * 22.12 and later 22.x, 23.1 and later.
 */
export function nodeHasReusePort(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

let reusePortProbe: Promise<boolean> | undefined;

async function listenOn(server: Server, options: ListenOptions): Promise<number> {
  server.listen(options);
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/**
 * Whether this process can share a port between listeners with `reusePort`: binds two listeners
 * to one loopback port with the option and reports whether the second bind succeeded (a Node
 * that ignores the option gets EADDRINUSE). Cached after the first call.
 */
export function reusePortSupported(): Promise<boolean> {
  reusePortProbe ??= (async () => {
    const first = createServer();
    const second = createServer();
    try {
      const options = { host: '127.0.0.1', port: 0, reusePort: true } as ListenOptions;
      const port = await listenOn(first, options);
      await listenOn(second, { ...options, port });
      return true;
    } catch {
      return false;
    } finally {
      first.close();
      second.close();
    }
  })();
  return reusePortProbe;
}

/** The worker entry file and the Node options to run it with (tsx when running from source). */
function workerEntry(): { file: string; execArgv: string[] } {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    return {
      file: fileURLToPath(new URL('./worker-main.ts', here)),
      execArgv: ['--import', 'tsx'],
    };
  }
  return { file: fileURLToPath(new URL('./worker-main.js', here)), execArgv: process.execArgv };
}

/** The primary's handle on running workers. */
export interface WorkerGroup {
  /** How connections reach the workers. */
  readonly distribution: Distribution;
  /** The address clients connect to. */
  readonly address: { host: string; port: number; family: string };
  /** Workers alive now. */
  readonly size: number;
  /** False once a shutdown started. */
  readonly serving: boolean;
  /** One counter snapshot per worker that answers within a second, sorted by worker. */
  collect(): Promise<CounterSnapshot[]>;
  /** Drains every worker (up to `graceMs`), then stops them; kills any still alive after that. */
  shutdown(graceMs: number): Promise<void>;
}

interface Member {
  readonly worker: number;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
}

const RESTART_DELAY_MS = 500;
const STATS_TIMEOUT_MS = 1_000;
const KILL_MARGIN_MS = 5_000;

/**
 * Starts `config.workers` worker processes serving `config.listen` and resolves once all
 * listen. Rejects (and stops the others) when a worker cannot start.
 */
export async function startWorkerGroup(config: ForwarderConfig): Promise<WorkerGroup> {
  const distribution: Distribution = (await reusePortSupported()) ? 'reuseport' : 'cluster';
  const entry = workerEntry();
  const members = new Map<number, Member>();
  const pending = new Map<number, (snapshot: CounterSnapshot) => void>();
  let nextId = 1;
  let stopping = false;
  let port = config.listen.port;

  if (distribution === 'cluster') {
    cluster.setupPrimary({ exec: entry.file, execArgv: entry.execArgv });
  }

  const spawn = (worker: number): { member: Member; ready: Promise<WorkerMessage> } => {
    const init: WorkerInit = { config, worker, reusePort: distribution === 'reuseport', port };
    const env = { [WORKER_ENV]: JSON.stringify(init) };
    const child =
      distribution === 'cluster'
        ? cluster.fork(env).process
        : fork(entry.file, [], {
            execArgv: entry.execArgv,
            env: { ...process.env, ...env },
            stdio: 'inherit',
          });
    // A send to a worker that just died fails with EPIPE; its 'exit' is what counts.
    child.on('error', () => undefined);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        resolve();
      });
    });
    const ready = new Promise<WorkerMessage>((resolve, reject) => {
      const onMessage = (message: WorkerMessage): void => {
        if (message.l4 === 'listening' || message.l4 === 'failed') {
          child.removeListener('message', onMessage);
          child.removeListener('exit', onExit);
          resolve(message);
        }
      };
      const onExit = (code: number | null, signal: string | null): void => {
        child.removeListener('message', onMessage);
        reject(
          new Error(
            `worker ${String(worker)} exited before listening (code ${String(code)}, signal ${String(signal)})`,
          ),
        );
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    child.on('message', (message: WorkerMessage) => {
      if (message.l4 === 'stats') {
        const resolve = pending.get(message.id);
        if (resolve !== undefined) resolve(message.snapshot);
      }
    });
    const member: Member = { worker, child, exited };
    members.set(worker, member);
    void exited.then(() => {
      if (members.get(worker) === member) members.delete(worker);
      if (!stopping) restart(worker);
    });
    return { member, ready };
  };

  const restart = (worker: number): void => {
    setTimeout(() => {
      if (stopping) return;
      const { ready } = spawn(worker);
      ready.catch(() => undefined);
    }, RESTART_DELAY_MS).unref();
  };

  const startOne = async (worker: number): Promise<WorkerGroup['address']> => {
    const { ready } = spawn(worker);
    const message = await ready;
    if (message.l4 !== 'listening') {
      throw new Error(
        `worker ${String(worker)} could not start: ${message.l4 === 'failed' ? message.message : 'unexpected message'}`,
      );
    }
    return message.address;
  };

  const stopAll = async (graceMs: number): Promise<void> => {
    stopping = true;
    const alive = [...members.values()];
    for (const { child } of alive) {
      if (child.connected) {
        child.send({ l4: 'shutdown', graceMs } satisfies WorkerMessage, (error) => {
          if (error !== null) child.kill('SIGTERM');
        });
      } else {
        child.kill('SIGTERM');
      }
    }
    const deadline = setTimeout(() => {
      for (const { child } of alive) child.kill('SIGKILL');
    }, graceMs + KILL_MARGIN_MS);
    await Promise.all(alive.map((m) => m.exited));
    clearTimeout(deadline);
  };

  let address: WorkerGroup['address'];
  try {
    // The first worker binds (port 0 included) and the others join its port. (Cluster workers
    // keep asking for the configured port: the primary shares one handle per address asked.)
    address = await startOne(1);
    if (distribution === 'reuseport') port = address.port;
    await Promise.all(Array.from({ length: config.workers - 1 }, (_, i) => startOne(i + 2)));
  } catch (error) {
    await stopAll(0);
    throw error;
  }

  return {
    distribution,
    address,
    get size() {
      return members.size;
    },
    get serving() {
      return !stopping;
    },
    async collect() {
      const asks = [...members.values()].map(
        (member) =>
          new Promise<CounterSnapshot | undefined>((resolve) => {
            const id = nextId++;
            const timer = setTimeout(() => {
              pending.delete(id);
              resolve(undefined);
            }, STATS_TIMEOUT_MS);
            pending.set(id, (snapshot) => {
              clearTimeout(timer);
              pending.delete(id);
              resolve(snapshot);
            });
            if (
              !member.child.connected ||
              !member.child.send({ l4: 'stats-request', id } satisfies WorkerMessage)
            ) {
              // A full IPC channel still delivers later; a closed one never does.
              if (!member.child.connected) {
                clearTimeout(timer);
                pending.delete(id);
                resolve(undefined);
              }
            }
          }),
      );
      const snapshots = (await Promise.all(asks)).filter(
        (s): s is CounterSnapshot => s !== undefined,
      );
      return snapshots.sort((a, b) => a.worker - b.worker);
    },
    shutdown: stopAll,
  };
}
