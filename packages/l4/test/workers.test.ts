// The library's multi-process path as the benchmark and users call it: `createForwarder` with
// `workers: 2`, on whichever distribution the running Node offers; a worker that dies is
// replaced.

import { afterEach, describe, expect, it } from 'vitest';
import { createForwarder, type Forwarder } from '../src/forwarder.js';
import { nodeHasReusePort } from '../src/workers.js';
import { closed, connectTo, echoServer, readAll, type TestServer, waitFor } from './net-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function echo(port: number, message: string): Promise<string> {
  const client = await connectTo(port);
  client.end(message);
  const answer = (await readAll(client)).toString();
  await closed(client);
  return answer;
}

describe('createForwarder with workers', () => {
  it('serves through two worker processes, sums their counters, and replaces a dead worker', async () => {
    const backend: TestServer = await echoServer();
    cleanups.push(() => backend.close());
    const forwarder: Forwarder = createForwarder({
      listen: '127.0.0.1:0',
      backends: [backend.address],
      workers: 2,
      warmPoolSize: 2,
      healthCheck: false,
    });
    cleanups.push(() => forwarder.close());
    const { port } = await forwarder.listen();
    expect(forwarder.distribution).toBe(nodeHasReusePort() ? 'reuseport' : 'cluster');
    for (let i = 0; i < 20; i++) expect(await echo(port, `n${String(i)}`)).toBe(`n${String(i)}`);
    const stats = await forwarder.stats();
    expect(stats.workers.map((w) => w.worker)).toEqual([1, 2]);
    expect(stats.total.connectionsTotal).toBe(20);
    expect(new Set(stats.workers.map((w) => w.pid)).size).toBe(2);
    expect(stats.workers.map((w) => w.pid)).not.toContain(process.pid);

    // Kill worker 1: the primary starts another, and the port keeps serving meanwhile.
    const victim = stats.workers[0]?.pid ?? 0;
    process.kill(victim, 'SIGKILL');
    await waitFor(
      async () => {
        const now = await forwarder.stats();
        return now.workers.length === 2 && !now.workers.some((w) => w.pid === victim);
      },
      15_000,
      'a replacement worker',
    );
    for (let i = 0; i < 5; i++)
      expect(await echo(port, `after ${String(i)}`)).toBe(`after ${String(i)}`);
    await forwarder.shutdown(1_000);
  }, 60_000);
});
