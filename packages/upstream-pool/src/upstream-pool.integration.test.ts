/**
 * The pool with the built-in socket factory against real loopback servers: warm sockets are
 * pre-connected; an upstream that refuses connections rejects every waiter with ECONNREFUSED,
 * promptly, and is not hammered; sockets the server closes, resets or writes to while they are
 * idle are never leased; close drains and leaves nothing behind.
 *
 * (A connect timeout is not provoked here: a non-routable address connects at once in some
 * sandboxes and a full listen backlog is unreliable, so `socket-factory.test.ts` drives the
 * connect timeout with a VirtualClock, and `upstream-pool.test.ts` a slow factory with
 * `createTimeoutMs`.)
 */
import { once } from 'node:events';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { defaultClassifier } from '@proxykit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DestroyEvent, FactoryErrorEvent } from './pool-events.js';
import { isPoolClosedError } from './pool-errors.js';
import { socketFactory } from './socket-factory.js';
import { Upstream } from './upstream.js';
import { UpstreamPool } from './upstream-pool.js';

const servers: Server[] = [];
const pools: UpstreamPool<Socket>[] = [];

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close({ graceMs: 0 })));
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise((resolve) => {
          server.close(resolve);
        }),
    ),
  );
});

interface TestServer {
  readonly upstream: Upstream;
  /** Accepted sockets, in order. */
  readonly peers: Socket[];
}

/** An echo server on 127.0.0.1 port 0; `onConnection` may add behaviour. */
async function echoServer(
  onConnection: (socket: Socket) => void = () => undefined,
): Promise<TestServer> {
  const peers: Socket[] = [];
  const server = net.createServer((socket) => {
    peers.push(socket);
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => socket.write(chunk));
    onConnection(socket);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { upstream: Upstream.parse(`tcp://127.0.0.1:${port}`), peers };
}

function pool(
  options: Partial<ConstructorParameters<typeof UpstreamPool<Socket>>[0]> = {},
): UpstreamPool<Socket> {
  const created = new UpstreamPool<Socket>({
    factory: socketFactory({ connectTimeoutMs: 2_000 }),
    ...options,
  });
  pools.push(created);
  return created;
}

async function roundTrip(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  const [reply] = (await once(socket, 'data')) as [Buffer];
  return reply.toString();
}

describe('UpstreamPool with real sockets', () => {
  it('pre-connects min warm sockets, tops them up when one is taken, reuses the warmest', async () => {
    const { upstream, peers } = await echoServer();
    const p = pool({ min: 2, upstreams: [upstream] });
    await vi.waitFor(() => {
      expect(p.stats(upstream)).toMatchObject({ idle: 2, size: 2 });
    });
    expect(peers).toHaveLength(2);
    const serverSide = new Set(peers.map((peer) => peer.remotePort));

    const lease = await p.acquire(upstream);
    expect(serverSide.has(lease.resource.localPort)).toBe(true); // a warm one: no connect to wait for
    await vi.waitFor(() => {
      expect(p.stats(upstream)).toMatchObject({ idle: 2, leased: 1 }); // topped up behind it
    });
    expect(await roundTrip(lease.resource, 'ping')).toBe('ping');
    const port = lease.resource.localPort;
    lease.release();
    {
      await using again = await p.acquire(upstream);
      expect(again.resource.localPort).toBe(port); // the one just released: the warmest
      expect(await roundTrip(again.resource, 'pong')).toBe('pong');
    }
    expect(peers).toHaveLength(3);
    expect(p.stats(upstream)).toMatchObject({ idle: 3, created: 3, destroyed: 0 });
  });

  it('rejects every waiter promptly with ECONNREFUSED when the upstream refuses', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const upstream = Upstream.parse(`tcp://127.0.0.1:${port}`);
    const p = pool({ max: 2, createRetries: 2, retryBackoffMs: 20, acquireTimeoutMs: 10_000 });
    const errors: FactoryErrorEvent[] = [];
    p.onFactoryError((event) => errors.push(event));
    const started = performance.now();
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => p.acquire(upstream)));
    const elapsed = performance.now() - started;
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason as NodeJS.ErrnoException;
      expect(reason.code).toBe('ECONNREFUSED');
      expect(defaultClassifier.classifyError(reason)).toBe('upstream');
    }
    expect(elapsed).toBeLessThan(2_000); // three attempts and two short backoffs, not 10 s
    expect(errors).toHaveLength(6); // two creations of three attempts for five waiters
    expect(p.stats(upstream)).toMatchObject({ size: 0, pending: 0, waiting: 0, failures: 6 });
  });

  it('does not hammer a refusing upstream to keep its warm minimum', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const upstream = Upstream.parse(`tcp://127.0.0.1:${port}`);
    const p = pool({
      min: 3,
      upstreams: [upstream],
      createRetries: 1,
      retryBackoffMs: 20,
      retryBackoffMaxMs: 200,
    });
    let attempts = 0;
    p.onFactoryError(() => attempts++);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // Three warm creations of two attempts, then one probe of two attempts per ≥ 100 ms.
    expect(attempts).toBeGreaterThanOrEqual(6);
    expect(attempts).toBeLessThanOrEqual(6 + 2 * 10 + 2);
    expect(p.stats(upstream).pending).toBeLessThanOrEqual(1);
  });

  it('never leases a socket the server closed while it was idle', async () => {
    const { upstream, peers } = await echoServer((socket) => {
      socket.setTimeout(100, () => socket.end()); // the server's keep-alive timeout
    });
    const p = pool({ idleTimeoutMs: 30_000 });
    const destroyed: DestroyEvent[] = [];
    p.onDestroy((event) => destroyed.push(event));
    const first = await p.acquire(upstream);
    expect(await roundTrip(first.resource, 'one')).toBe('one');
    const firstPort = first.resource.localPort;
    first.release();
    expect(p.stats(upstream).idle).toBe(1);
    await vi.waitFor(() => {
      expect(destroyed.map((e) => e.reason)).toEqual(['dead']);
    });
    expect(p.stats(upstream)).toMatchObject({ idle: 0, size: 0 });
    const second = await p.acquire(upstream);
    expect(second.resource.localPort).not.toBe(firstPort);
    expect(await roundTrip(second.resource, 'two')).toBe('two');
    expect(peers).toHaveLength(2);
    second.release();
  });

  it('never leases a socket the server reset while it was idle', async () => {
    const { upstream, peers } = await echoServer();
    const p = pool();
    const lease = await p.acquire(upstream);
    expect(await roundTrip(lease.resource, 'x')).toBe('x');
    lease.release();
    peers[0]?.resetAndDestroy();
    await vi.waitFor(() => {
      expect(p.stats(upstream).idle).toBe(0);
    });
    await using next = await p.acquire(upstream);
    expect(next.resource).not.toBe(lease.resource);
    expect(await roundTrip(next.resource, 'y')).toBe('y');
  });

  it('destroys instead of pooling a socket that ended while leased', async () => {
    const { upstream } = await echoServer((socket) => {
      socket.once('data', () => socket.end()); // answer once, then close (HTTP/1.0 style)
    });
    const p = pool();
    const destroyed: DestroyEvent[] = [];
    p.onDestroy((event) => destroyed.push(event));
    const lease = await p.acquire(upstream);
    const ended = once(lease.resource, 'end');
    expect(await roundTrip(lease.resource, 'once')).toBe('once');
    await ended;
    lease.release();
    expect(destroyed.map((e) => e.reason)).toEqual(['dead']);
    expect(p.stats(upstream)).toMatchObject({ idle: 0, size: 0 });
  });

  it('does not lease a socket that received bytes while idle', async () => {
    const { upstream, peers } = await echoServer();
    const p = pool();
    const destroyed: DestroyEvent[] = [];
    p.onDestroy((event) => destroyed.push(event));
    const lease = await p.acquire(upstream);
    expect(await roundTrip(lease.resource, 'a')).toBe('a');
    lease.release();
    peers[0]?.write('late reply'); // e.g. a response to a request someone gave up on
    await vi.waitFor(() => {
      expect(lease.resource.readableLength).toBeGreaterThan(0);
    });
    const next = await p.acquire(upstream);
    expect(next.resource).not.toBe(lease.resource);
    expect(destroyed.map((e) => e.reason)).toEqual(['not-reusable']);
    next.release();
  });

  it('does not pool a socket its user left a reader on', async () => {
    const { upstream } = await echoServer();
    const p = pool();
    const lease = await p.acquire(upstream);
    lease.resource.on('data', () => undefined);
    lease.release();
    expect(p.stats(upstream)).toMatchObject({ idle: 0, destroyed: 1 });
    expect(lease.resource.destroyed).toBe(true);
  });

  it('close waits for leases up to the grace, then destroys them; nothing is left', async () => {
    const { upstream, peers } = await echoServer();
    const timers = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const p = pool({ min: 1, max: 2, upstreams: [upstream] });
    await vi.waitFor(() => {
      expect(p.stats(upstream).idle).toBe(1);
    });
    const held = await p.acquire(upstream);
    const returned = await p.acquire(upstream);
    const waiter = p.acquire(upstream).catch((error: unknown) => error);
    const started = performance.now();
    const closing = p.close({ graceMs: 200 });
    expect(isPoolClosedError(await waiter)).toBe(true);
    await expect(p.acquire(upstream)).rejects.toSatisfy(isPoolClosedError);
    returned.release(); // comes back during the grace: destroyed, not pooled
    expect(returned.resource.destroyed).toBe(true);
    expect(held.released).toBe(false);
    await closing;
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(held.released).toBe(true); // taken back when the grace ran out
    expect(held.resource.destroyed).toBe(true);
    expect(p.stats()).toMatchObject({ size: 0, idle: 0, leased: 0, created: 2, destroyed: 2 });
    await vi.waitFor(() => {
      expect(peers.every((peer) => peer.destroyed)).toBe(true);
    });
    expect(timers()).toBeLessThanOrEqual(before); // no timer keeps the process alive
  });
});
