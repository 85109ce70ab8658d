import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closed,
  connectTo,
  echoServer,
  hashIncoming,
  readAll,
  refusedPort,
  sendRandom,
  startServer,
  type TestServer,
  waitFor,
} from '../test/net-helpers.js';
import type { ForwarderOptions } from './forwarder-config.js';
import { createForwarder, LocalForwarder } from './forwarder.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function backend(server: Promise<TestServer>): Promise<TestServer> {
  const started = await server;
  cleanups.push(() => started.close());
  return started;
}

async function forwarder(
  options: Partial<ForwarderOptions> & Pick<ForwarderOptions, 'backends'>,
): Promise<{ engine: LocalForwarder; port: number }> {
  const engine = new LocalForwarder({ listen: '127.0.0.1:0', ...options });
  cleanups.push(() => engine.close());
  const { port } = await engine.listen();
  return { engine, port };
}

/**
 * A backend that hashes what it receives and sends `sendBytes` random bytes back; `completed`
 * gets the connections that finished both ways (idle warm-pool sockets never do).
 */
function hashingBackend(sendBytes: number) {
  const completed: { received: { sha256: string; bytes: number }; sent: string }[] = [];
  const server = startServer((socket) => {
    void Promise.all([hashIncoming(socket), sendRandom(socket, sendBytes)]).then(
      ([received, sent]) => {
        completed.push({ received, sent });
      },
      () => undefined,
    );
  });
  return { server, completed };
}

describe('forwarding', () => {
  it.each([
    [0, 0, 4],
    [1, 70_000, 4],
    [1_000_003, 3, 0],
    [3, 1_000_003, 0],
    [64 * 1024 * 1024, 64 * 1024 * 1024, 0],
    [64 * 1024 * 1024, 64 * 1024 * 1024, 4],
  ])(
    'carries %d bytes up and %d bytes down byte-identical (sha256 at both ends), warm pool %d',
    async (up, down, warmPoolSize) => {
      const hashing = hashingBackend(down);
      const server = await backend(hashing.server);
      const { port, engine } = await forwarder({ backends: [server.address], warmPoolSize });
      // Half-open capable: each direction ends on its own FIN, as the transfer sizes differ.
      const client = await connectTo(port, '127.0.0.1', true);
      const [sent, received] = await Promise.all([sendRandom(client, up), hashIncoming(client)]);
      // Health probes and warm sockets also reach the backend; ours is the one that got `up` bytes.
      await waitFor(() => hashing.completed.some((c) => c.received.bytes === up));
      const at = hashing.completed.find((c) => c.received.bytes === up);
      expect(at?.received).toEqual({ sha256: sent, bytes: up });
      expect(received).toEqual({ sha256: at?.sent, bytes: down });
      await closed(client);
      await waitFor(() => engine.activeConnections === 0);
      const counters = engine.snapshot();
      expect(counters.bytesFromClients).toBe(up);
      expect(counters.bytesToClients).toBe(down);
    },
    60_000,
  );

  it('passes a client half-close through while the backend keeps answering', async () => {
    // The backend answers only after it saw the client's FIN.
    const server = await backend(
      startServer((socket) => {
        void readAll(socket).then((data) => {
          socket.end(`got ${String(data.length)} bytes, then your FIN`);
        });
      }),
    );
    const { port } = await forwarder({ backends: [server.address] });
    const client = await connectTo(port, '127.0.0.1', true);
    client.end('hello');
    expect((await readAll(client)).toString()).toBe('got 5 bytes, then your FIN');
    await closed(client);
  });

  it('passes a backend half-close through while the client keeps sending', async () => {
    const received: Promise<Buffer>[] = [];
    const server = await backend(
      startServer((socket) => {
        socket.end('bye first'); // FIN at once; keep reading
        received.push(readAll(socket));
      }),
    );
    const { port } = await forwarder({
      backends: [server.address],
      warmPoolSize: 0,
      healthCheck: false, // a probe's connection would be one of `received`
    });
    const client = await connectTo(port, '127.0.0.1', true);
    expect((await readAll(client)).toString()).toBe('bye first');
    client.write('still ');
    client.end('talking');
    await waitFor(() => received.length === 1);
    expect((await received[0])?.toString()).toBe('still talking');
    await closed(client);
  });

  it('completes 1,000 concurrent connections', async () => {
    const server = await backend(echoServer());
    const { port, engine } = await forwarder({ backends: [server.address], warmPoolSize: 16 });
    const count = 1_000;
    const results = await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const client = await connectTo(port);
        const message = `connection ${String(i)} `.repeat(50);
        client.end(message);
        const echoed = (await readAll(client)).toString();
        await closed(client);
        return echoed === message;
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(count);
    await waitFor(() => engine.activeConnections === 0);
    expect(engine.snapshot().connectionsTotal).toBe(count);
  }, 30_000);

  it('closes the client when the backend process is killed mid-stream', async () => {
    // A backend in its own process that streams forever; SIGKILL lets the kernel close it.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const s = require('net').createServer((c) => { const b = Buffer.alloc(65536, 120);
         const pump = () => { while (c.write(b)); }; c.on('drain', pump); pump(); c.on('error', () => {}); })
         .listen(0, '127.0.0.1', () => console.log(s.address().port));`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => {
      child.kill('SIGKILL');
    });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const { port } = await forwarder({ backends: [`127.0.0.1:${line.toString().trim()}`] });
    const client = await connectTo(port);
    client.on('error', () => undefined);
    let bytes = 0;
    client.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    await waitFor(() => bytes > 1_000_000, 10_000, 'streamed bytes');
    child.kill('SIGKILL');
    await closed(client); // would hang forever if the forwarder kept the client open
    expect(client.destroyed).toBe(true);
  });

  it('destroys the client when the backend resets mid-stream, and the backend when the client resets', async () => {
    const server = await backend(
      startServer((socket) => {
        socket.resume(); // a peer that reads, and closes when it reads the forwarder's FIN
        socket.on('end', () => socket.end());
        socket.write(Buffer.alloc(100_000, 1));
      }),
    );
    const { port, engine } = await forwarder({
      backends: [server.address],
      warmPoolSize: 0,
      healthCheck: false, // only the clients' connections reach the backend
    });
    // Backend reset → client closed.
    const first = await connectTo(port);
    first.on('error', () => undefined);
    await once(first, 'data');
    for (const socket of server.sockets) socket.resetAndDestroy();
    await closed(first);
    // Client reset → backend socket closed.
    const second = await connectTo(port);
    await once(second, 'data');
    await waitFor(() => server.sockets.size === 1);
    const [backendSide] = [...server.sockets];
    second.resetAndDestroy();
    await closed(backendSide!);
    await waitFor(() => engine.activeConnections === 0);
  });

  it('closes connections idle for idleTimeoutMs, both sides', async () => {
    const server = await backend(echoServer());
    const { port } = await forwarder({
      backends: [server.address],
      idleTimeoutMs: 150,
      warmPoolSize: 0,
      healthCheck: false,
    });
    const client = await connectTo(port);
    client.write('ping');
    await once(client, 'data');
    await waitFor(() => server.sockets.size === 1);
    const [backendSide] = [...server.sockets];
    await Promise.all([closed(client), closed(backendSide!)]);
  });
});

describe('backend choice', () => {
  it('retries a refused connect on another backend before any client byte is lost', async () => {
    const dead = await refusedPort();
    const server = await backend(echoServer());
    const { port, engine } = await forwarder({
      backends: [`127.0.0.1:${String(dead)}`, server.address],
      warmPoolSize: 0, // every connect on demand
      healthCheck: false,
      breakerFailureThreshold: 1_000, // keep the dead one in rotation: each pick of it is retried
    });
    for (let i = 0; i < 6; i++) {
      const client = await connectTo(port);
      // Bytes sent at once, before the forwarder has any backend connection.
      const message = `early bytes ${String(i)}`;
      client.end(message);
      expect((await readAll(client)).toString()).toBe(message);
      await closed(client);
    }
    const counters = engine.snapshot();
    expect(counters.connectErrors).toBeGreaterThanOrEqual(3);
    expect(counters.backends[`127.0.0.1:${String(dead)}`]?.connectErrors).toBe(
      counters.connectErrors,
    );
    expect(counters.backends[server.address]?.chosen).toBe(6);
    expect(counters.noBackend).toBe(0);
  });

  it('closes the client when no backend can be reached', async () => {
    const dead = await refusedPort();
    const { port, engine } = await forwarder({
      backends: [`127.0.0.1:${String(dead)}`],
      warmPoolSize: 0,
      healthCheck: false,
    });
    const client = await connectTo(port);
    client.on('error', () => undefined);
    client.write('anyone?');
    await closed(client);
    expect(engine.snapshot().noBackend).toBe(1);
  });

  it('skips a dead backend once the health checks reach the threshold', async () => {
    const tagged = (tag: string) =>
      startServer((socket) => {
        socket.end(tag);
      });
    const a = await backend(tagged('A'));
    const b = await backend(tagged('B'));
    const { port, engine } = await forwarder({
      backends: [a.address, b.address],
      healthCheckIntervalSecs: 0.03,
      unhealthyThreshold: 2,
      breakerFailureThreshold: 1_000, // only the health checks take it out here
    });
    await b.close(); // refuses connections from now on
    await waitFor(() => engine.selector?.healthOf(b.address) === 'unhealthy', 10_000, 'unhealthy');
    const errorsBefore = engine.snapshot().connectErrors;
    const answers: string[] = [];
    for (let i = 0; i < 20; i++) {
      const client = await connectTo(port);
      answers.push((await readAll(client)).toString());
      await closed(client);
    }
    expect(answers).toEqual(Array.from({ length: 20 }, () => 'A'));
    expect(engine.snapshot().connectErrors).toBe(errorsBefore); // B was not even tried
  });

  it('opens a backend breaker after consecutive connect failures', async () => {
    const dead = await refusedPort();
    const server = await backend(echoServer());
    const deadName = `127.0.0.1:${String(dead)}`;
    const { port, engine } = await forwarder({
      backends: [deadName, server.address],
      warmPoolSize: 0,
      healthCheck: false,
      breakerFailureThreshold: 2,
      breakerOpenMs: 60_000,
    });
    for (let i = 0; i < 10; i++) {
      const client = await connectTo(port);
      client.end('x');
      expect((await readAll(client)).toString()).toBe('x');
    }
    expect(engine.selector?.breakers.stateOf(deadName)).toBe('open');
    expect(engine.snapshot().connectErrors).toBe(2);
  });
});

describe('shutdown and the library API', () => {
  it('lets open connections finish, refuses new ones, then resolves', async () => {
    const server = await backend(echoServer());
    const fwd = createForwarder({
      listen: '127.0.0.1:0',
      backends: [server.address],
      metricsListen: '127.0.0.1:0',
    });
    cleanups.push(() => fwd.close());
    const { port } = await fwd.listen();
    const client = await connectTo(port);
    const shutdown = fwd.shutdown(10_000);
    const health = await fetch(`http://127.0.0.1:${String(fwd.metricsAddress?.port)}/healthz`);
    expect(health.status).toBe(503);
    await expect(connectTo(port)).rejects.toThrow(/ECONNREFUSED/);
    client.write('still served');
    const [echo] = (await once(client, 'data')) as [Buffer];
    expect(echo.toString()).toBe('still served');
    client.end();
    await shutdown; // resolves when the last connection is done, long before the grace period
    expect((await fwd.stats()).total.connectionsActive).toBe(0);
  });

  it('closes what is still open when the grace period ends', async () => {
    const server = await backend(echoServer());
    const fwd = createForwarder({ listen: '127.0.0.1:0', backends: [server.address] });
    cleanups.push(() => fwd.close());
    const { port } = await fwd.listen();
    const client: Socket = await connectTo(port);
    client.write('x');
    await once(client, 'data');
    await fwd.shutdown(100);
    await closed(client);
  });
});
