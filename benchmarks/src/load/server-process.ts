/**
 * Why: every server under load runs in its own process, so that it has an event loop (or a
 * native process) to itself and never shares one with the load generator. Node servers are
 * started from an entry in `servers/` and report their ports over IPC; native servers (nginx,
 * HAProxy, socat) are started with a port chosen beforehand and are ready once it accepts a
 * connection. Both are registered with `cleanup.ts`, so they stop even when the suite fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { track, untrack } from './cleanup.js';

/** How long a server may take to start before the suite gives up on it. */
const START_TIMEOUT_MS = 15_000;
/** How long a stopping server gets before it is killed. */
const STOP_GRACE_MS = 3_000;

/** A server running in a child process. */
export interface ServerProcess {
  /** Name used in messages. */
  readonly name: string;
  /** The process. */
  readonly child: ChildProcess;
  /** Ports the server listens on; `port` is its main one. */
  readonly ports: Readonly<Record<string, number>> & { readonly port: number };
  /** Stops the server (SIGTERM, then SIGKILL after a grace period). */
  readonly stop: () => Promise<void>;
}

/** Asks the system for a free loopback port (closed again before returning). */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function register(
  name: string,
  child: ChildProcess,
  ports: ServerProcess['ports'],
  afterStop?: () => void,
): ServerProcess {
  const handle = {
    stop: async (): Promise<void> => {
      untrack(handle);
      if (!exited(child)) {
        const gone = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await gone;
        clearTimeout(timer);
      }
      afterStop?.();
    },
    kill: (): void => {
      if (!exited(child)) child.kill('SIGKILL');
      afterStop?.();
    },
  };
  track(handle);
  return { name, child, ports, stop: handle.stop };
}

/** Keeps the last few kilobytes a child writes to stderr, for error messages. */
function stderrTail(child: ChildProcess): () => string {
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-4_000);
  });
  // The last line says why a server stopped (nginx's [emerg], HAProxy's [ALERT], our own).
  return () => tail.trim().split('\n').at(-1) ?? '';
}

/** Options of {@link startNodeServer}. */
export interface NodeServerOptions {
  /** Extra Node flags for this process, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Starts `servers/<entry>.ts` in a new Node process with `options` as its JSON argument and
 * resolves once it reports its ports (see `servers/serve.ts`).
 */
export async function startNodeServer(
  entry: string,
  options: unknown,
  { nodeFlags = [], env = {} }: NodeServerOptions = {},
): Promise<ServerProcess> {
  const file = fileURLToPath(new URL(`./servers/${entry}.ts`, import.meta.url));
  // execArgv carries tsx's loader over, so the entry runs as TypeScript like this file.
  const execArgv = process.execArgv.filter((flag) => flag !== '--expose-gc');
  const child = spawn(
    process.execPath,
    [...execArgv, ...nodeFlags, file, JSON.stringify(options)],
    {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      env: { ...process.env, ...env },
    },
  );
  const tail = stderrTail(child);
  const server = register(entry, child, { port: 0 });
  try {
    const ports = await new Promise<ServerProcess['ports']>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${entry}: not listening after ${String(START_TIMEOUT_MS)} ms`));
      }, START_TIMEOUT_MS);
      child.once('message', (message: { ports?: ServerProcess['ports'] }) => {
        clearTimeout(timer);
        if (message.ports === undefined) reject(new Error(`${entry}: unexpected message`));
        else resolve(message.ports);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${entry} exited (${String(code ?? signal)}) before listening: ${tail() || 'no output'}`,
          ),
        );
      });
    });
    return { ...server, ports };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Resolves once something accepts TCP connections on `port`. */
async function acceptsConnections(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/**
 * Starts a native server that will listen on `port` (chosen by the caller and written to its
 * configuration) and resolves once the port accepts connections. `afterStop` runs once the
 * process is gone (e.g. removes its temporary directory).
 */
export async function startNativeServer(
  name: string,
  command: string,
  args: readonly string[],
  port: number,
  afterStop?: () => void,
): Promise<ServerProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const tail = stderrTail(child);
  const spawnError = once(child, 'spawn').then(
    () => undefined,
    (error: unknown) =>
      error instanceof Error ? error : new Error(`${name}: ${command} did not start`),
  );
  const server = register(name, child, { port }, afterStop);
  try {
    const error = await spawnError;
    if (error !== undefined) throw error;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited(child)) {
        throw new Error(
          `${name} exited (${String(child.exitCode ?? child.signalCode)}): ${tail() || 'no output'}`,
        );
      }
      if (await acceptsConnections(port)) return server;
      if (Date.now() > deadline) throw new Error(`${name}: port ${String(port)} never opened`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } catch (error) {
    await server.stop();
    throw error;
  }
}
