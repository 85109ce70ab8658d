import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { get, killAll, listeningUrl, type LogLine, spawnCli } from './cli.helpers.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function upstream(): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    const closed = once(server, 'close');
    server.close();
    await closed;
  });
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
}

const workerListening =
  (n: number, except?: number) =>
  (line: LogLine): boolean =>
    line.msg === `worker ${String(n)} listening` && line.pid !== except;

async function allOk(url: string, count: number): Promise<boolean> {
  const answers = await Promise.all(Array.from({ length: count }, () => get(`${url}/x`)));
  return answers.every((a) => a.status === 200 && a.body === 'ok');
}

describe('proxykit-proxy with REVERSE_PROXY_WORKERS=2', () => {
  it('serves from two workers on one port, restarts a dead worker and exits 0 on SIGTERM', async () => {
    const cli = spawnCli({
      REVERSE_PROXY_UPSTREAMS: await upstream(),
      REVERSE_PROXY_WORKERS: '2',
      REVERSE_PROXY_HEALTHCHECK: 'false',
    });
    const url = await listeningUrl(cli);
    const primary = cli.logs.find((l) => l.url === url && l.workers === 2);
    expect(primary).toBeDefined();
    const first = await cli.waitForLog(workerListening(1));
    const second = await cli.waitForLog(workerListening(2));
    // Both workers share the primary's port, and each is a process of its own.
    expect(first.url).toBe(url);
    expect(second.url).toBe(url);
    expect(new Set([primary?.pid, first.pid, second.pid]).size).toBe(3);
    expect(await allOk(url, 10)).toBe(true);
    // The primary hands connections to the workers in turn: both served some (access log lines).
    for (const worker of [first, second]) {
      await cli.waitForLog((l) => l.method === 'GET' && l.pid === worker.pid, 10_000);
    }

    // A worker that dies is replaced; the other one serves meanwhile.
    process.kill(first.pid as number, 'SIGKILL');
    await cli.waitForLog((l) => l.msg === 'worker died unexpectedly' && l.worker === 1);
    expect(await allOk(url, 5)).toBe(true);
    const replacement = await cli.waitForLog(workerListening(1, first.pid as number), 30_000);
    expect(replacement.url).toBe(url);
    expect(await allOk(url, 10)).toBe(true);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    const stopped = cli.logs.filter((l) => l.msg === 'stopped').map((l) => l.pid);
    expect(new Set(stopped)).toEqual(new Set([primary?.pid, second.pid, replacement.pid]));
    expect(cli.stderr()).toBe('');
  }, 60_000);
});
