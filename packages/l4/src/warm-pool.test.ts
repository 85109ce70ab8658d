import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closed,
  connectTo,
  readAll,
  startServer,
  type TestServer,
  waitFor,
} from '../test/net-helpers.js';
import { LocalForwarder } from './forwarder.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A backend that answers each connection with the order in which it accepted it, after the
 * client's FIN: `accepted #3: <what the client sent>`.
 */
function taggingBackend(onIdle?: (socket: Socket, index: number) => void): Promise<TestServer> {
  return startServer((socket, index) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      socket.end(`accepted #${String(index)}: ${Buffer.concat(chunks).toString()}`);
    });
    onIdle?.(socket, index);
  });
}

async function start(server: TestServer, warmPoolSize: number): Promise<LocalForwarder> {
  const engine = new LocalForwarder({
    listen: '127.0.0.1:0',
    backends: [server.address],
    warmPoolSize,
    healthCheck: false, // only warm-pool and client connections reach the backend
  });
  cleanups.push(() => engine.close());
  await engine.listen();
  return engine;
}

async function ask(port: number, message: string): Promise<string> {
  const client = await connectTo(port);
  client.end(message);
  const answer = (await readAll(client)).toString();
  await closed(client);
  return answer;
}

describe('warm pool', () => {
  it('hands each client a socket connected before it arrived, and refills in the background', async () => {
    const server = await taggingBackend();
    cleanups.push(() => server.close());
    const engine = await start(server, 2);
    await waitFor(() => server.accepted === 2, 10_000, 'two warm sockets');
    const port = engine.address?.port ?? 0;
    // Served on one of the two sockets accepted before the client connected.
    expect(await ask(port, 'first')).toMatch(/^accepted #[12]: first$/);
    // The pool replaces the socket it handed out without any client asking.
    await waitFor(() => server.accepted === 3, 10_000, 'a refill');
    expect(await ask(port, 'second')).toMatch(/^accepted #[123]: second$/);
    const counters = engine.snapshot().backends[server.address];
    expect(counters).toMatchObject({ chosen: 2, warm: 2, connectErrors: 0 });
  });

  it.each([
    ['ends (FIN) idle sockets', (socket: Socket) => socket.end()],
    ['destroys idle sockets', (socket: Socket) => socket.destroy()],
    ['resets idle sockets', (socket: Socket) => socket.resetAndDestroy()],
    ['sends a last word and closes idle sockets', (socket: Socket) => socket.end('timeout\n')],
  ])('never hands out a socket the backend closed: backend %s', async (_name, closeIdle) => {
    // The first three sockets — the warm ones — are closed by the backend while idle.
    let closedByBackend = 0;
    const server = await taggingBackend((socket, index) => {
      if (index > 3) return;
      setTimeout(() => {
        closeIdle(socket);
        closedByBackend++;
      }, 20);
    });
    cleanups.push(() => server.close());
    const engine = await start(server, 3);
    await waitFor(() => closedByBackend === 3, 10_000, 'idle sockets closed by the backend');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const port = engine.address?.port ?? 0;
    for (let i = 0; i < 5; i++) {
      const answer = await ask(port, `client ${String(i)}`);
      expect(answer).toMatch(new RegExp(`^accepted #(\\d+): client ${String(i)}$`));
      expect(Number(/#(\d+)/.exec(answer)?.[1])).toBeGreaterThan(3);
    }
    expect(engine.snapshot().noBackend).toBe(0);
  });

  it('keeps bytes a server-first backend sent while the socket was idle, for the client', async () => {
    const server = await startServer((socket, index) => {
      socket.write(`hello from #${String(index)}\n`);
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
      socket.on('end', () => socket.end());
    });
    cleanups.push(() => server.close());
    const engine = await start(server, 1);
    await waitFor(() => server.accepted === 1, 10_000, 'the warm socket');
    await new Promise((resolve) => setTimeout(resolve, 50)); // the greeting is buffered by now
    const answer = await ask(engine.address?.port ?? 0, 'ping');
    expect(answer).toBe('hello from #1\nping');
    expect(engine.snapshot().backends[server.address]?.warm).toBe(1);
  });

  it('connects on demand when the pool is off', async () => {
    const server = await taggingBackend();
    cleanups.push(() => server.close());
    const engine = await start(server, 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.accepted).toBe(0);
    expect(await ask(engine.address?.port ?? 0, 'cold')).toBe('accepted #1: cold');
    expect(engine.snapshot().backends[server.address]).toMatchObject({ chosen: 1, warm: 0 });
  });
});
