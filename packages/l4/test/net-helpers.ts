// Loopback servers, clients and waits shared by the forwarder's tests: real sockets on
// 127.0.0.1 port 0, every one tracked so a test can kill a backend mid-stream and clean up.

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** A loopback TCP server that remembers its open sockets. */
export interface TestServer {
  readonly server: Server;
  readonly port: number;
  readonly address: string;
  readonly sockets: Set<Socket>;
  /** Connections accepted so far. */
  accepted: number;
  /** Stops listening and destroys every open socket. */
  close(): Promise<void>;
}

/** Starts a server whose sockets are half-open capable. */
export async function startServer(
  onSocket: (socket: Socket, index: number) => void,
  host = '127.0.0.1',
): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const state: { accepted: number } = { accepted: 0 };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    state.accepted++;
    onSocket(socket, state.accepted);
  });
  server.listen(0, host);
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const result: TestServer = {
    server,
    port,
    address: host.includes(':') ? `[${host}]:${String(port)}` : `${host}:${String(port)}`,
    sockets,
    get accepted() {
      return state.accepted;
    },
    set accepted(value: number) {
      state.accepted = value;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      if (server.listening)
        await new Promise<void>((resolve) =>
          server.close(() => {
            resolve();
          }),
        );
    },
  };
  return result;
}

/** An echo backend: every byte back, FIN passed back after the echo. */
export function echoServer(): Promise<TestServer> {
  return startServer((socket) => {
    socket.pipe(socket);
  });
}

/** A port nothing listens on (bound, then closed). */
export async function refusedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}

/** Connects to a loopback port and resolves once connected. */
export async function connectTo(
  port: number,
  host = '127.0.0.1',
  allowHalfOpen = false,
): Promise<Socket> {
  const socket = connect({ port, host, allowHalfOpen });
  await once(socket, 'connect');
  return socket;
}

/** Reads a socket to its end; resolves with everything it received. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => {
      resolve(Buffer.concat(chunks));
    });
    socket.once('error', reject);
  });
}

/** Hashes what a socket receives until its end; resolves with sha256 hex and the byte count. */
export function hashIncoming(socket: Socket): Promise<{ sha256: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    socket.once('end', () => {
      resolve({ sha256: hash.digest('hex'), bytes });
    });
    socket.once('error', reject);
  });
}

/**
 * Writes `bytes` random bytes with backpressure, then ends the socket (FIN); resolves with their
 * sha256.
 */
export async function sendRandom(socket: Socket, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  let left = bytes;
  while (left > 0) {
    const chunk = randomBytes(Math.min(left, 256 * 1024));
    hash.update(chunk);
    left -= chunk.length;
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  socket.end();
  return hash.digest('hex');
}

/** Waits until `condition()` is true, polling; throws after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Resolves when the socket has closed (at once if it already has). */
export async function closed(socket: Socket): Promise<void> {
  if (socket.closed) return;
  await once(socket, 'close');
}
