import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Answer,
  connectOutcome,
  get,
  killAll,
  listeningUrl,
  spawnCli,
  waitForStatus,
} from './cli.helpers.js';

const SLOW_MS = 1_500;
const IN_FLIGHT = 4;

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  await killAll();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** An upstream whose `/slow` answers after SLOW_MS; anything else (the health probe) at once. */
async function slowUpstream(): Promise<{ url: string; slowSeen: () => number }> {
  let slowSeen = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const server = createServer((req, res: ServerResponse) => {
    req.resume();
    if (req.url !== '/slow') {
      res.end('ok');
      return;
    }
    slowSeen++;
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.end('slow done');
    }, SLOW_MS);
    timers.add(timer);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const timer of timers) clearTimeout(timer);
    for (const socket of sockets) socket.destroy();
    const closed = once(server, 'close');
    server.close();
    await closed;
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${String(port)}`, slowSeen: () => slowSeen };
}

describe('proxykit-proxy graceful drain', () => {
  it('on SIGTERM finishes the requests in flight, refuses new connections and exits 0', async () => {
    const upstream = await slowUpstream();
    const cli = spawnCli({
      REVERSE_PROXY_UPSTREAMS: upstream.url,
      REVERSE_PROXY_SHUTDOWN_GRACE_SECONDS: '20',
      REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS: '1',
    });
    const url = await listeningUrl(cli);
    const port = Number(new URL(url).port);
    await waitForStatus(`${url}/readyz`, 200);

    let completed = 0;
    const inFlight = Array.from({ length: IN_FLIGHT }, () =>
      get(`${url}/slow`).then((answer: Answer) => {
        completed++;
        return answer;
      }),
    );
    const deadline = Date.now() + 10_000;
    while (upstream.slowSeen() < IN_FLIGHT && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(upstream.slowSeen()).toBe(IN_FLIGHT);

    cli.child.kill('SIGTERM');
    await cli.waitForLog((l) => l.msg === 'shutting down: draining connections');
    // The listener is closed while the slow requests are still running.
    expect(await connectOutcome(port)).toBe('ECONNREFUSED');
    expect(completed).toBe(0);

    const answers = await Promise.all(inFlight);
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      expect(answer.body).toBe('slow done');
      expect(answer.headers.connection).toBe('close');
    }
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.logs.some((l) => l.msg === 'stopped')).toBe(true);
    expect(cli.stderr()).toBe('');
  });

  it('destroys what is still running at the grace deadline, and still exits 0', async () => {
    const upstream = await slowUpstream();
    const cli = spawnCli({
      REVERSE_PROXY_UPSTREAMS: upstream.url,
      REVERSE_PROXY_SHUTDOWN_GRACE_SECONDS: '0',
      REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS: '1',
    });
    const url = await listeningUrl(cli);
    await waitForStatus(`${url}/readyz`, 200);
    const cut = get(`${url}/slow`).then(
      () => 'answered',
      (error: unknown) => (error as NodeJS.ErrnoException).code ?? 'error',
    );
    const deadline = Date.now() + 10_000;
    while (upstream.slowSeen() < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    cli.child.kill('SIGTERM');
    expect(await cut).toBe('ECONNRESET');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });

  it('exits at once on a second signal', async () => {
    const upstream = await slowUpstream();
    const cli = spawnCli({
      REVERSE_PROXY_UPSTREAMS: upstream.url,
      REVERSE_PROXY_SHUTDOWN_GRACE_SECONDS: '60',
      REVERSE_PROXY_HEALTHCHECK_INTERVAL_SECS: '1',
    });
    const url = await listeningUrl(cli);
    await waitForStatus(`${url}/readyz`, 200);
    const hanging = get(`${url}/slow`).catch(() => undefined);
    const deadline = Date.now() + 10_000;
    while (upstream.slowSeen() < 1 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    cli.child.kill('SIGINT');
    await cli.waitForLog((l) => l.msg === 'shutting down: draining connections');
    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 130, signal: null });
    await hanging;
  });
});
