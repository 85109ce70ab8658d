import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closed,
  connectTo,
  echoServer,
  hashIncoming,
  refusedPort,
  sendRandom,
  startServer,
  type TestServer,
  waitFor,
} from '../test/net-helpers.js';
import { LocalForwarder } from './forwarder.js';
import { backendReadOptions, READ_BUFFER_BYTES, splice, withOwnReadBuffer } from './splice.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function server(onSocket: (socket: Socket) => void): Promise<TestServer> {
  const started = await startServer(onSocket);
  cleanups.push(() => started.close());
  return started;
}

/** A backend socket read through `onread`, as the forwarder makes them. */
async function bufferedBackend(port: number): Promise<Socket> {
  const socket = connect({
    port,
    host: '127.0.0.1',
    allowHalfOpen: true,
    onread: backendReadOptions(),
  });
  cleanups.push(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  return socket;
}

/**
 * A client stand-in whose writes complete only after a macrotask, and which copies each chunk
 * when it completes: a chunk whose memory was overwritten while its write was pending arrives
 * corrupted. Small writes stay below the high-water mark, so they are pending without `write`
 * returning false.
 */
class SlowWriter extends Duplex {
  readonly hash = createHash('sha256');
  bytes = 0;
  completedWrites = 0;

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    // Nothing to send to the backend.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    setImmediate(() => {
      this.hash.update(Buffer.from(chunk));
      this.bytes += chunk.length;
      this.completedWrites++;
      callback();
    });
  }
}

describe('splice with backend sockets reading into their own buffer', () => {
  it('gives every backend socket a buffer of its own', () => {
    const a = backendReadOptions();
    const b = backendReadOptions();
    expect(a.buffer).not.toBe(b.buffer);
    expect((a.buffer as Uint8Array).length).toBe(READ_BUFFER_BYTES);
    expect(a.callback).toBe(b.callback);
  });

  it('never overwrites the buffer under a pending write, with writes above and below the high-water mark', async () => {
    // Chunks of every size from 1 byte to 3 × the read buffer, so some reads are small (a write
    // pending below the high-water mark) and some fill the buffer (a write past it).
    const sent = createHash('sha256');
    let total = 0;
    const origin = await server((socket) => {
      void (async () => {
        for (let i = 0; i < 400; i++) {
          const chunk = randomBytes(1 + ((i * 7919) % (3 * READ_BUFFER_BYTES)));
          sent.update(chunk);
          total += chunk.length;
          if (!socket.write(chunk)) await once(socket, 'drain');
          if (i % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        }
        socket.end();
      })();
    });
    const backend = await bufferedBackend(origin.port);
    let dataEvents = 0;
    backend.on('data', () => dataEvents++);
    const client = new SlowWriter();
    const finished = once(client, 'finish');
    let done = false;
    splice(client as unknown as Socket, backend, 0, () => {
      done = true;
    });
    await finished; // the backend's FIN was passed on after every byte
    expect(client.bytes).toBe(total);
    expect(client.hash.digest('hex')).toBe(sent.digest('hex'));
    expect(client.completedWrites).toBeGreaterThan(400 / 3);
    expect(dataEvents).toBe(0); // the bytes went through `onread`, not the Readable stream
    client.destroy();
    await waitFor(() => done);
  }, 30_000);

  it("writes what it reads straight to the peer's handle, not through its Writable, both ways", async () => {
    const chunks = Array.from({ length: 200 }, (_, i) => randomBytes(1 + ((i * 389) % 3000)));
    const expectedHash = createHash('sha256');
    for (const chunk of chunks) expectedHash.update(chunk);
    const expected = expectedHash.digest('hex');
    const fromClient = createHash('sha256');
    let originDone = false;
    const origin = await server((socket) => {
      socket.on('data', (chunk: Buffer) => fromClient.update(chunk));
      socket.on('end', () => (originDone = true));
      void (async () => {
        for (const chunk of chunks) {
          socket.write(chunk);
          await new Promise((resolve) => setImmediate(resolve));
        }
        socket.end();
      })();
    });
    const writes = { client: 0, backend: 0 };
    const front = await server((accepted) => {
      const client = withOwnReadBuffer(accepted);
      void bufferedBackend(origin.port).then((backend) => {
        for (const [socket, side] of [
          [client, 'client'],
          [backend, 'backend'],
        ] as const) {
          const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
          socket.write = (...args: unknown[]) => {
            writes[side]++;
            return write(...args);
          };
        }
        splice(client, backend, 0, () => undefined);
      });
    });
    const user = await connectTo(front.port, '127.0.0.1', true);
    const received = hashIncoming(user);
    // Sent once the two are spliced, so none is held aside (those bytes go through `write`).
    await once(user, 'data');
    for (const chunk of chunks) user.write(chunk);
    user.end();
    expect(await received).toEqual({
      sha256: expected,
      bytes: chunks.reduce((sum, chunk) => sum + chunk.length, 0),
    });
    await waitFor(() => originDone, 10_000, "the client's FIN at the origin");
    expect(fromClient.digest('hex')).toBe(expected);
    expect(writes).toEqual({ client: 0, backend: 0 });
  });

  it('carries bytes to slow readers intact through the forwarder, many connections at once', async () => {
    const size = 8 * 1024 * 1024;
    const sums: string[] = [];
    const origin = await server((socket) => {
      socket.resume();
      // Warm sockets the test leaves idle are reset at the end; their sends fail.
      sendRandom(socket, size).then(
        (sha) => sums.push(sha),
        () => undefined,
      );
    });
    const engine = new LocalForwarder({
      listen: '127.0.0.1:0',
      backends: [origin.address],
      warmPoolSize: 2,
      healthCheck: false,
    });
    cleanups.push(() => engine.close());
    const { port } = await engine.listen();
    const received = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const client = await connectTo(port, '127.0.0.1', true);
        // A reader that stops for a while every few chunks, so writes to it stay pending.
        let chunks = 0;
        client.on('data', () => {
          if (++chunks % 4 === 0) {
            client.pause();
            setTimeout(() => client.resume(), 2);
          }
        });
        const result = await hashIncoming(client);
        client.end();
        await closed(client);
        return result;
      }),
    );
    expect(received.map((r) => r.bytes)).toEqual(Array(6).fill(size));
    for (const { sha256 } of received) expect(sums).toContain(sha256);
  }, 60_000);

  it('forwards more bytes than it holds aside for a pooled socket that received them while idle', async () => {
    const greeting = randomBytes(200_000);
    const origin = await server((socket) => {
      socket.write(greeting);
      socket.resume();
      socket.on('end', () => socket.end());
    });
    const engine = new LocalForwarder({
      listen: '127.0.0.1:0',
      backends: [origin.address],
      warmPoolSize: 1,
      healthCheck: false,
    });
    cleanups.push(() => engine.close());
    const { port } = await engine.listen();
    await waitFor(() => origin.accepted === 1, 10_000, 'the warm socket');
    await new Promise((resolve) => setTimeout(resolve, 100)); // it read what it may while idle
    const client = await connectTo(port, '127.0.0.1', true);
    client.end();
    const { sha256, bytes } = await hashIncoming(client);
    expect(bytes).toBe(greeting.length);
    expect(sha256).toBe(createHash('sha256').update(greeting).digest('hex'));
    expect(engine.snapshot().backends[origin.address]?.warm).toBe(1);
    await closed(client);
  });
});

describe('withOwnReadBuffer: accepted client sockets reading into their own buffer', () => {
  it('moves the connection to a new socket before any byte is read, and the server stops counting it', async () => {
    const payload = randomBytes(3 * READ_BUFFER_BYTES + 17);
    const accepted: Socket[] = [];
    const adopted: Socket[] = [];
    const listener = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
      accepted.push(socket);
      adopted.push(withOwnReadBuffer(socket));
    });
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const socket of adopted) socket.destroy();
          listener.close(() => {
            resolve();
          });
        }),
    );
    const client = connect({ port: (listener.address() as AddressInfo).port, host: '127.0.0.1' });
    cleanups.push(() => {
      client.destroy();
    });
    await once(client, 'connect');
    client.end(payload); // sent at once, before the server side is spliced to anything
    await waitFor(() => adopted.length === 1);
    const socket = adopted[0] as Socket;
    expect(socket).not.toBe(accepted[0]);
    expect(accepted[0]?.destroyed).toBe(true);
    expect(socket.remotePort).toBe(client.localPort);
    const counted = await new Promise<number>((resolve, reject) => {
      listener.getConnections((error, count) => {
        if (error) reject(error);
        else resolve(count);
      });
    });
    expect(counted).toBe(0);
    // Spliced to a slow writer: every byte arrives intact, through `onread`, never as 'data'.
    let dataEvents = 0;
    socket.on('data', () => dataEvents++);
    const peer = new SlowWriter();
    const finished = once(peer, 'finish');
    splice(socket, peer as unknown as Socket, 0, () => undefined);
    await finished;
    expect(peer.bytes).toBe(payload.length);
    expect(peer.hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
    expect(dataEvents).toBe(0);
  });

  it('hands back the socket itself, resumed, when it has no handle to move', () => {
    const socket = new Socket();
    socket.pause();
    expect(withOwnReadBuffer(socket)).toBe(socket);
    expect(socket.isPaused()).toBe(false);
    socket.destroy();
  });

  it('carries what a client sends while its backend connects (more than it holds aside) intact, and its FIN after', async () => {
    const payload = randomBytes(1024 * 1024);
    const echo = await echoServer();
    cleanups.push(() => echo.close());
    // The first backend refuses, so the client's bytes wait through a failed connect and a retry.
    const engine = new LocalForwarder({
      listen: '127.0.0.1:0',
      backends: [`127.0.0.1:${String(await refusedPort())}`, echo.address],
      warmPoolSize: 0,
      healthCheck: false,
    });
    cleanups.push(() => engine.close());
    const { port } = await engine.listen();
    for (let i = 0; i < 4; i++) {
      const client = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      client.end(payload);
      const { sha256, bytes } = await hashIncoming(client);
      expect(bytes).toBe(payload.length);
      expect(sha256).toBe(createHash('sha256').update(payload).digest('hex'));
      await closed(client);
    }
  });
});
