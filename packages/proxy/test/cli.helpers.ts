// Shared fixtures of the CLI tests: run `proxykit-proxy` from its TypeScript source as a child
// process (through tsx's loader, so no build is needed), read its JSON log lines, and make sure
// every child is gone after each test.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request, type IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The CLI's source. */
export const CLI_SOURCE: string = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** tsx's loader, resolved from the repository root's dependencies. */
const TSX_LOADER = pathToFileURL(createRequire(`${ROOT}package.json`).resolve('tsx')).href;

/** One JSON log line of the CLI. */
export type LogLine = Record<string, unknown> & { readonly msg?: string };

/** A running CLI. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** Log lines so far (stdout, parsed). */
  readonly logs: LogLine[];
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line (past or future) matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
}

const running = new Set<ChildProcess>();

/**
 * Starts the CLI with exactly `env` (plus PATH and tsx's settings), listening on a free loopback port unless `env`
 * says otherwise.
 */
export function spawnCli(env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, CLI_SOURCE], {
    // The root tsconfig maps `@proxykit/*` to the sibling packages' sources, so nothing needs
    // to be built.
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      TSX_TSCONFIG_PATH: `${ROOT}tsconfig.json`,
      REVERSE_PROXY_LISTEN: '127.0.0.1:0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let out = '';
  let err = '';
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line, unparsed: true });
      }
      newline = pending.indexOf('\n');
    }
    for (const waiter of waiters) waiter();
  });
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
      for (const waiter of waiters) waiter();
    });
  });
  const waitForLog = (
    predicate: (line: LogLine) => boolean,
    timeoutMs = 15_000,
  ): Promise<LogLine> =>
    new Promise<LogLine>((resolve, reject) => {
      const check = (): void => {
        const found = logs.find(predicate);
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`the CLI exited first; stdout: ${out}\nstderr: ${err}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`no such log line in ${String(timeoutMs)} ms; stdout: ${out}\nstderr: ${err}`),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { child, logs, stdout: () => out, stderr: () => err, exited, waitForLog };
}

/** Kills every CLI still running (tests call it after each test). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }),
  );
}

/** Resolves with the `listening` line's URL. */
export async function listeningUrl(cli: CliProcess): Promise<string> {
  const line = await cli.waitForLog(
    (l) => typeof l.status === 'string' && typeof l.url === 'string',
  );
  return line.url as string;
}

/** A response read in full. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One request on a connection of its own (no keep-alive pool shared between tests). */
export function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls `url` until it answers `status`. */
export async function waitForStatus(
  url: string,
  status: number,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await get(url).catch(() => undefined);
    if (answer?.status === status) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${url} did not answer ${String(status)} in time (last: ${String(answer?.status)})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `'connected'`, or the error code of a TCP connect to `port`. */
export function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? 'error');
    });
  });
}
