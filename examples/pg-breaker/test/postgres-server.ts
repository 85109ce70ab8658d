/**
 * Why: a breaker test against a mock proves only the mock. This helper runs a real, throwaway
 * PostgreSQL cluster — `initdb` into a temporary directory with trust authentication, listening
 * on 127.0.0.1 on a free port with its unix socket in that directory — that a test can stop and
 * start again on the same port and data directory, like a database that goes down and comes back.
 *
 * PostgreSQL refuses to run as root, so under root every server binary runs as the `postgres`
 * system user (through `runuser`, or `su` where there is none) and the directory is given to it.
 * Every command runs without a shell and with a timeout; a failure carries the server's log.
 */
import { execFile } from 'node:child_process';
import {
  accessSync,
  appendFileSync,
  chownSync,
  constants,
  readdirSync,
  readFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A throwaway PostgreSQL cluster; see {@link startPostgresServer}. */
export interface PostgresServer {
  /** Always `127.0.0.1`. */
  readonly host: string;
  /** The TCP port, the same across restarts. */
  readonly port: number;
  /** The superuser to connect as, without a password (trust authentication). */
  readonly user: string;
  /** `postgresql://user@127.0.0.1:port/postgres`. */
  readonly connectionString: string;
  /** The temporary directory: data directory, unix socket and server log. */
  readonly dir: string;
  /** True between a successful `start()` and the next `stop()`. */
  readonly running: boolean;
  /** Starts the server again (same port, same data) and resolves once it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown (`pg_ctl stop -m fast`): resolves once the server has exited. */
  stop(): Promise<void>;
  /** Stops the server if it runs and removes its directory. */
  destroy(): Promise<void>;
  /** The server log so far. */
  log(): string;
}

/** Options of {@link startPostgresServer}. */
export interface PostgresServerOptions {
  /** Longest wait for any one command (initdb, start, stop), in ms; default 30 000. */
  readonly timeoutMs?: number;
  /** The system user to run the server as when this process is root; default `postgres`. */
  readonly systemUser?: string;
}

const BINARIES = ['initdb', 'pg_ctl', 'postgres'] as const;
type Binary = (typeof BINARIES)[number];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first directory on PATH, then in /usr/lib/postgresql/<newest>/bin, holding all three. */
function findServerBinaries(): Record<Binary, string> {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  try {
    const versions = readdirSync('/usr/lib/postgresql').sort(
      (a, b) => Number.parseFloat(b) - Number.parseFloat(a),
    );
    dirs.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`));
  } catch {
    // No Debian-style installation.
  }
  for (const dir of dirs) {
    if (BINARIES.every((name) => isExecutable(join(dir, name)))) {
      return {
        initdb: join(dir, 'initdb'),
        pg_ctl: join(dir, 'pg_ctl'),
        postgres: join(dir, 'postgres'),
      };
    }
  }
  const missing = BINARIES.filter((name) => !dirs.some((dir) => isExecutable(join(dir, name))));
  throw new Error(
    `PostgreSQL server binaries not found: ${missing.length > 0 ? `no ${missing.join(', ')}` : 'initdb, pg_ctl and postgres are not in one directory'} on PATH or in /usr/lib/postgresql/*/bin. ` +
      'Install the server (Debian: apt-get install -y postgresql).',
  );
}

/** A port that was free a moment ago: listen on port 0, note the port, close. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  if (address === null || typeof address === 'string') throw new Error('no TCP port assigned');
  return address.port;
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** Turns a command into one that runs as `user`. */
  readonly wrap: (file: string, args: readonly string[]) => [string, string[]];
}

/** Under root, how to run the server binaries as `user`; otherwise undefined (run them as is). */
function runAsFor(user: string): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  // name:password:uid:gid:… in /etc/passwd, where system users such as postgres live.
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((line) => line.split(':'))
    .find((fields) => fields[0] === user);
  const uid = Number(entry?.[2]);
  const gid = Number(entry?.[3]);
  if (entry === undefined || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new Error(
      `PostgreSQL refuses to run as root, and there is no '${user}' user in /etc/passwd to run it ` +
        `as (Debian's postgresql package creates it; or: useradd --system ${user}).`,
    );
  }
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find(isExecutable);
  const wrap: RunAs['wrap'] =
    runuser !== undefined
      ? (file, args) => [runuser, ['-u', user, '--', file, ...args]]
      : (file, args) => [
          'su',
          [user, '-s', '/bin/sh', '-c', [file, ...args].map(shellQuote).join(' ')],
        ];
  return { user, uid, gid, wrap };
}

/**
 * Creates a cluster in a new temporary directory and starts it. Call `destroy()` when done.
 *
 * @throws Error naming the missing binary when the PostgreSQL server is not installed, or with
 *   the command's output and the server log when initdb or the start fails
 */
export async function startPostgresServer(
  options: PostgresServerOptions = {},
): Promise<PostgresServer> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const bin = findServerBinaries();
  const runAs = runAsFor(options.systemUser ?? 'postgres');
  const dir = await mkdtemp(join(tmpdir(), 'proxykit-pg-'));
  if (runAs !== undefined) chownSync(dir, runAs.uid, runAs.gid);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const superuser = 'postgres';
  const port = await freePort();

  const readLog = (): string => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '(no server log)';
    }
  };

  const run = (binary: Binary, args: readonly string[]): Promise<string> => {
    const [file, argv] = runAs?.wrap(bin[binary], args) ?? [bin[binary], [...args]];
    return new Promise((resolve, reject) => {
      execFile(
        file,
        argv,
        {
          cwd: dir, // the server's user may not be allowed into ours
          env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
          encoding: 'utf8',
        },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve(stdout);
            return;
          }
          const what = error.killed ? `timed out after ${timeoutMs} ms` : error.message;
          reject(
            new Error(
              `${binary} ${args.join(' ')}: ${what}\n--- output ---\n${stdout}${stderr}\n--- server log (${logFile}) ---\n${readLog()}`,
              { cause: error },
            ),
          );
        },
      );
    });
  };

  /** The postmaster's pid while its pid file exists. */
  const postmasterPid = (): number | undefined => {
    try {
      const pid = Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8'), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };

  // Safety net: if the test process exits without destroy(), do not leave a server behind.
  const killOnExit = (): void => {
    const pid = postmasterPid();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGQUIT'); // immediate shutdown
    } catch {
      // Already gone.
    }
  };

  let running = false;
  let destroyed = false;
  const pgCtl = (...args: string[]): Promise<string> =>
    run('pg_ctl', [...args, '-D', dataDir, '-w', '-t', String(Math.ceil(timeoutMs / 1000))]);

  const server: PostgresServer = {
    host: '127.0.0.1',
    port,
    user: superuser,
    connectionString: `postgresql://${superuser}@127.0.0.1:${port}/postgres`,
    dir,
    get running() {
      return running;
    },
    async start() {
      if (destroyed) throw new Error('the server was destroyed');
      if (running) return;
      await pgCtl('start', '-l', logFile); // -w: returns once the server accepts connections
      running = true;
    },
    async stop() {
      // Also after a start that timed out: a server that wrote its pid file is stopped.
      if (!running && postmasterPid() === undefined) return;
      try {
        await pgCtl('stop', '-m', 'fast'); // -w: returns once the postmaster has exited
      } catch (error) {
        killOnExit(); // last resort: immediate shutdown, so nothing outlives the test
        throw error;
      }
      running = false;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        await server.stop();
      } finally {
        process.off('exit', killOnExit);
        await rm(dir, { recursive: true, force: true, maxRetries: 3 });
      }
    },
    log: readLog,
  };

  try {
    await run('initdb', [
      '-D',
      dataDir,
      '-U',
      superuser,
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    // Settings in the config file rather than on pg_ctl's -o, which goes through a shell.
    const quoted = (value: string): string => `'${value.replaceAll("'", "''")}'`;
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        '# proxykit test server',
        `listen_addresses = '127.0.0.1'`,
        `port = ${port}`,
        `unix_socket_directories = ${quoted(dir)}`,
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        'max_connections = 20',
        'shared_buffers = 16MB',
        '',
      ].join('\n'),
    );
    process.on('exit', killOnExit);
    await server.start();
  } catch (error) {
    await server.destroy().catch(() => undefined);
    throw error;
  }
  return server;
}
