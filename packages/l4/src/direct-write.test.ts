import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { hashIncoming, startServer, type TestServer, waitFor } from '../test/net-helpers.js';
import { directWritesAvailable, writeToHandle } from './direct-write.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A connected loopback pair: `writer` is ours, `reader` the server's side, paused. */
async function pair(): Promise<{ writer: Socket; reader: Socket; server: TestServer }> {
  let reader: Socket | undefined;
  const server = await startServer((socket) => {
    socket.pause();
    reader = socket;
  });
  cleanups.push(() => server.close());
  // Read through `onread`, as the forwarder's sockets are, so pause() stops reading at once.
  const writer = connect({
    port: server.port,
    host: '127.0.0.1',
    allowHalfOpen: true,
    onread: { buffer: Buffer.alloc(1024), callback: () => true },
  });
  writer.on('error', () => undefined);
  await once(writer, 'connect');
  cleanups.push(() => {
    writer.destroy();
  });
  await waitFor(() => reader !== undefined);
  return { writer, reader: reader as Socket, server };
}

function never(): void {
  throw new Error('whenFlushed must not run for a write the kernel took at once');
}

describe('writeToHandle', () => {
  it('is available on the Node versions the forwarder supports', () => {
    expect(directWritesAvailable).toBe(true);
  });

  it('hands a small chunk to the kernel at once, and the socket counts its bytes', async () => {
    const { writer, reader } = await pair();
    const bytes = randomBytes(300);
    expect(writeToHandle(writer, bytes, never)).toBe('flushed');
    expect(writeToHandle(writer, bytes, never)).toBe('flushed');
    expect(writer.bytesWritten).toBe(600);
    expect(writer.writableLength).toBe(0);
    const received = hashIncoming(reader);
    reader.resume();
    writer.end(); // ordered after the direct writes
    expect(await received).toEqual({
      sha256: createHash('sha256').update(bytes).update(bytes).digest('hex'),
      bytes: 600,
    });
  });

  it('queues what the kernel cannot take, keeps its bytes intact, and says when it is flushed', async () => {
    const { writer, reader } = await pair();
    const bytes = randomBytes(32 * 1024 * 1024); // far more than a loopback socket buffers
    const expected = createHash('sha256').update(bytes).digest('hex');
    let flushed = 0;
    expect(
      writeToHandle(writer, bytes, () => {
        flushed++;
      }),
    ).toBe('queued');
    expect(flushed).toBe(0);
    // The socket's Writable knows nothing of it, so the next write goes the Writable way only
    // if the caller asks: a FIN from end() still waits for the queued bytes.
    writer.end();
    const received = hashIncoming(reader);
    reader.resume();
    expect(await received).toEqual({ sha256: expected, bytes: bytes.length });
    await waitFor(() => flushed === 1, 10_000, 'whenFlushed');
    expect(writer.bytesWritten).toBe(bytes.length);
  }, 30_000);

  it('leaves the write to the Writable while it has bytes queued, or the socket is not connected', async () => {
    const { writer, server } = await pair();
    writer.write(randomBytes(32 * 1024 * 1024));
    expect(writer.writableLength).toBeGreaterThan(0);
    expect(writeToHandle(writer, Buffer.from('late'), never)).toBe('unavailable');
    writer.end();
    expect(writeToHandle(writer, Buffer.from('after end'), never)).toBe('unavailable');
    writer.destroy();
    expect(writeToHandle(writer, Buffer.from('after destroy'), never)).toBe('unavailable');

    const connecting = connect({ port: server.port, host: '127.0.0.1' });
    connecting.on('error', () => undefined);
    cleanups.push(() => {
      connecting.destroy();
    });
    expect(connecting.connecting).toBe(true);
    expect(writeToHandle(connecting, Buffer.from('early'), never)).toBe('unavailable');
  });

  it('destroys the socket with the error when the peer has reset the connection', async () => {
    const { writer, reader } = await pair();
    writer.pause(); // not reading, so only the write can find out about the reset
    reader.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const outcome = writeToHandle(writer, randomBytes(1024), never);
    expect(outcome).toBe('failed');
    expect(writer.destroyed).toBe(true);
    const [error] = (await once(writer, 'error')) as [NodeJS.ErrnoException];
    expect(['EPIPE', 'ECONNRESET']).toContain(error.code);
    expect(error.syscall).toBe('write');
  });

  it('calls whenFlushed for a queued write cancelled by destroy, and writes go on with a fresh request', async () => {
    const first = await pair();
    let flushed = 0;
    expect(
      writeToHandle(first.writer, randomBytes(32 * 1024 * 1024), () => {
        flushed++;
      }),
    ).toBe('queued');
    first.writer.destroy();
    await waitFor(() => flushed === 1, 10_000, 'whenFlushed after destroy');

    // The request that stayed bound to the cancelled write is not reused: another socket's
    // writes still complete.
    const second = await pair();
    const bytes = randomBytes(1000);
    expect(writeToHandle(second.writer, bytes, never)).toBe('flushed');
    second.writer.end();
    const received = hashIncoming(second.reader);
    second.reader.resume();
    expect((await received).bytes).toBe(1000);
  }, 30_000);
});
