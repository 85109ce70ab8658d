// The `proxykit-l4` command as a user runs it, from source: configuration errors, two workers
// behind one port with their counters summed on /metrics, and a graceful drain on SIGTERM. The
// worker distribution tested is the one the running Node offers (cluster before 22.12, reusePort
// from 22.12 / 23.1); CI runs this file under both.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { nodeHasReusePort, reusePortSupported } from '../src/workers.js';
import { closed, connectTo, echoServer, readAll, type TestServer, waitFor } from './net-helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Cli {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<number | null>;
  /** Resolves with the first JSON log line whose `msg` is `msg`. */
  line(msg: string): Promise<Record<string, unknown>>;
}

const children: ChildProcess[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  for (const server of servers.splice(0)) await server.close();
});

function cli(env: Record<string, string>): Cli {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('L4_')),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/l4/src/cli.ts'], {
    cwd: root,
    env: { ...clean, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { msg: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout.push(line);
    let parsed: Record<string, unknown> | undefined;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    for (const waiter of waiters.filter((w) => w.msg === parsed.msg)) waiter.resolve(parsed);
  });
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  return {
    child,
    stdout,
    stderr,
    exited,
    line: (msg) => {
      const seen = stdout
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return undefined;
          }
        })
        .find((l) => l?.msg === msg);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ msg, resolve });
        void exited.then((code) => {
          reject(new Error(`exited with ${String(code)} before "${msg}": ${stderr.join('\n')}`));
        });
      });
    },
  };
}

function portOf(address: unknown): number {
  return Number(String(address).split(':').pop());
}

async function echo(port: number, message: string): Promise<string> {
  const client = await connectTo(port);
  client.end(message);
  const answer = (await readAll(client)).toString();
  await closed(client);
  return answer;
}

async function metricValue(text: string, name: string): Promise<number> {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

describe('proxykit-l4', () => {
  it('stops on a bad variable with one line naming it, exit code 1 and no stack trace', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ L4_WORKERS: 'abc' }, 'L4_WORKERS="abc" is not valid: expected an integer in [1, 1024]'],
      [
        { L4_PROXY_PROTOCOL: 'v3' },
        'L4_PROXY_PROTOCOL="v3" is not valid: expected one of off, v1, v2',
      ],
      [{ L4_BACKENDS: '' }, 'L4_BACKENDS="" is not valid: expected a comma-separated list'],
    ];
    const runs = cases.map(([env]) => cli({ L4_BACKENDS: '127.0.0.1:9', ...env }));
    const codes = await Promise.all(runs.map((run) => run.exited));
    runs.forEach((run, i) => {
      expect(codes[i]).toBe(1);
      expect(run.stderr).toHaveLength(1);
      expect(run.stderr[0]?.startsWith(`proxykit-l4: ${cases[i]?.[1] ?? ''}`)).toBe(true);
      expect(run.stdout).toEqual([]);
    });
  }, 60_000);

  it('detects the worker distribution of the running Node at run time', async () => {
    // Linux has SO_REUSEPORT, so the probe agrees with the version table: cluster before
    // 22.12 / 23.1, reusePort from then on.
    expect(await reusePortSupported()).toBe(nodeHasReusePort());
    expect(nodeHasReusePort('20.19.0')).toBe(false);
    expect(nodeHasReusePort('22.11.0')).toBe(false);
    expect(nodeHasReusePort('22.12.0')).toBe(true);
    expect(nodeHasReusePort('23.0.0')).toBe(false);
    expect(nodeHasReusePort('23.1.0')).toBe(true);
    expect(nodeHasReusePort('24.0.0')).toBe(true);
  });

  // One run (starting a primary and two workers from source is the slow part): serve, scrape,
  // then drain.
  it('serves with two workers, sums both on /metrics, then drains on SIGTERM and exits 0', async () => {
    const backend = await echoServer();
    servers.push(backend);
    const run = cli({
      L4_BACKENDS: backend.address,
      L4_LISTEN: '127.0.0.1:0',
      L4_METRICS_LISTEN: '127.0.0.1:0',
      L4_WORKERS: '2',
      L4_SHUTDOWN_GRACE_SECONDS: '15',
    });
    const listening = await run.line('listening');
    const expected = nodeHasReusePort() ? 'reuseport' : 'cluster';
    expect(listening).toMatchObject({ workers: 2, distribution: expected });
    const port = portOf(listening.listen);
    const connections = 40;
    for (let batch = 0; batch < 4; batch++) {
      const answers = await Promise.all(
        Array.from({ length: connections / 4 }, (_, i) => echo(port, `m${String(batch * 10 + i)}`)),
      );
      expect(answers).toEqual(Array.from({ length: 10 }, (_, i) => `m${String(batch * 10 + i)}`));
    }
    const metricsUrl = `http://127.0.0.1:${String(portOf(listening.metrics))}`;
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(`${metricsUrl}/metrics`)).text();
      return (await metricValue(text, 'l4_connections_active')) === 0;
    });
    expect(await metricValue(text, 'l4_workers_reporting')).toBe(2);
    expect(await metricValue(text, 'l4_connections_total')).toBe(connections);
    expect(text).toContain(`l4_info{distribution="${expected}"`);
    const perWorker = [1, 2].map((worker) => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`l4_worker_connections_total{worker="${String(worker)}"}`));
      return Number(line?.split(' ')[1]);
    });
    // Both workers served some (the kernel's hash or the cluster's round robin spread them).
    expect(perWorker[0]).toBeGreaterThan(0);
    expect(perWorker[1]).toBeGreaterThan(0);
    expect((perWorker[0] ?? 0) + (perWorker[1] ?? 0)).toBe(connections);
    expect(text).toContain(
      `l4_backend_connections_total{backend="${backend.address}"} ${String(connections)}`,
    );
    const bytes = await metricValue(text, 'l4_bytes_total{direction="client_to_backend"}');
    expect(bytes).toBe(
      Array.from({ length: connections }, (_, i) => `m${String(i)}`.length).reduce((a, b) => a + b),
    );
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(200);

    // The drain: an open connection, then SIGTERM.
    const client = await connectTo(port);
    client.write('before');
    await once(client, 'data');
    run.child.kill('SIGTERM');
    await run.line('draining');
    expect((await fetch(`${metricsUrl}/healthz`)).status).toBe(503);
    // New connections are refused once the workers have closed their listeners…
    await waitFor(
      () =>
        connectTo(port).then(
          (socket) => {
            socket.destroy();
            return false;
          },
          () => true,
        ),
      10_000,
      'the listener to close',
    );
    // …while the open one is still served.
    client.write('during the drain');
    const [answer] = (await once(client, 'data')) as [Buffer];
    expect(answer.toString()).toBe('during the drain');
    expect(run.child.exitCode).toBeNull();
    client.end();
    expect(await run.exited).toBe(0); // long before the 15 s grace period
    await run.line('stopped');
  }, 60_000);
});
