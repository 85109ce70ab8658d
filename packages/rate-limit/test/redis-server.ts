/**
 * Why: a distributed limiter tested against a mock proves only the mock. This helper runs a real,
 * throwaway `redis-server` (Debian's package) on 127.0.0.1 on a free port, without persistence,
 * in a temporary directory, and can kill it (SIGKILL: a crash, not a polite shutdown) and start it
 * again on the same port, like a Redis that goes down and comes back. Every wait is bounded; a
 * failure carries the server's log; a process exit kills a server left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A throwaway Redis server; see {@link startRedisServer}. */
export interface RedisServer {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** The TCP port, the same across restarts. */
  readonly port: number;
  /** True between a successful `start()` and the next `kill()`. */
  readonly running: boolean;
  /** Starts the server again (same port, empty data) and resolves once it answers PING. */
  start(): Promise<void>;
  /** Kills the server with SIGKILL and resolves once it has exited. */
  kill(): Promise<void>;
  /** Kills the server if it runs and removes its directory. */
  destroy(): Promise<void>;
  /** The server log so far. */
  log(): string;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Longest wait for the server to answer PING after a start, in ms; default 10 000. */
  readonly timeoutMs?: number;
}

/** `redis-server` on PATH or in /usr/bin, /usr/sbin, /usr/local/bin. */
export function findRedisServer(): string | undefined {
  const dirs = [
    ...(process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== ''),
    '/usr/bin',
    '/usr/sbin',
    '/usr/local/bin',
  ];
  for (const dir of dirs) {
    const file = join(dir, 'redis-server');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** A port that was free a moment ago: listen on port 0, note the port, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}

/** Resolves true when a Redis answers PING on `port` within `timeoutMs`, false otherwise. */
function ping(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => {
      done(false);
    }, timeoutMs);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.on('error', () => {
      done(false);
    });
  });
}

/**
 * Starts a Redis server on a free loopback port in a new temporary directory. Call `destroy()`
 * when done.
 *
 * @throws Error when redis-server is not installed, or with the server log when it does not
 *   answer PING in time
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const binary = findRedisServer();
  if (binary === undefined) {
    throw new Error('redis-server not found on PATH (Debian: apt-get install -y redis-server)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'proxykit-redis-'));
  const logFile = join(dir, 'redis.log');
  const port = await freePort();
  let child: ChildProcess | undefined;
  let destroyed = false;

  const readLog = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '(no server log)';
    }
  };

  // Safety net: if the test process exits without destroy(), do not leave a server behind.
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const server: RedisServer = {
    host: '127.0.0.1',
    port,
    get running() {
      return child !== undefined;
    },
    async start() {
      if (destroyed) throw new Error('the server was destroyed');
      if (child !== undefined) return;
      const started = spawn(
        binary,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--logfile',
          logFile,
          '--daemonize',
          'no',
        ],
        { stdio: 'ignore' },
      );
      child = started;
      started.once('exit', () => {
        if (child === started) child = undefined;
      });
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child !== started) break; // it exited
        if (await ping(port, 500)) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      started.kill('SIGKILL');
      throw new Error(
        `redis-server on port ${String(port)} did not answer PING within ${String(timeoutMs)} ms\n--- log ---\n${readLog()}`,
      );
    },
    async kill() {
      const running = child;
      if (running === undefined) return;
      const exited = once(running, 'exit');
      running.kill('SIGKILL');
      await exited;
      child = undefined;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        await server.kill();
      } finally {
        process.off('exit', killOnExit);
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      }
    },
    log: readLog,
  };

  try {
    await server.start();
  } catch (error) {
    await server.destroy().catch(() => undefined);
    throw error;
  }
  return server;
}
