import { once } from 'node:events';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { defaultClassifier, VirtualClock } from '@proxykit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { socketFactory } from './socket-factory.js';
import { Upstream } from './upstream.js';

// A self-signed certificate for localhost and 127.0.0.1, valid 2000–2100 (test only).
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCWJ7H/ZXMtMGLfC0
zvsJhc6BxPOK4rm+FYu8vfWVWimhRANCAARolIBFzAzCcXsnjfcg0tmW0bTHJK9g
LueI4EJJhsfm+TRBJM+tt5gbz2aVbaWjzJ0F6M0l8/IJBf6KMrYVPyIO
-----END PRIVATE KEY-----
`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBZzCCAQ2gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGiUgEXMDMJxeyeN
9yDS2ZbRtMckr2Au54jgQkmGx+b5NEEkz623mBvPZpVtpaPMnQXozSXz8gkF/ooy
thU/Ig6jTjBMMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0RBBMwEYIJbG9jYWxob3N0
hwR/AAABMB0GA1UdDgQWBBT9+Scyw4krvhMRXt29cS9WRoKqpTAKBggqhkjOPQQD
AgNIADBFAiBlUF/yTZ3ou4aSIwTceyA1xTZl9gw4TrTY23SG/aq+dwIhAIMwOJlq
bfPqcGdFFS6KBrCV56DlxRi0rphgVYqs+y/J
-----END CERTIFICATE-----
`;

const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise((resolve) => {
          server.close(resolve);
        }),
    ),
  );
});

/** A loopback server on port 0; `peers` are its accepted sockets. */
async function serve(
  onConnection: (socket: Socket) => void = (socket) => socket.pipe(socket),
  create: (listener: (socket: Socket) => void) => Server = (listener) => net.createServer(listener),
): Promise<{ server: Server; port: number; peers: Socket[] }> {
  const peers: Socket[] = [];
  const server = create((socket) => {
    peers.push(socket);
    sockets.push(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, peers };
}

/** A port that nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const never = new AbortController().signal;

describe('socketFactory', () => {
  it('connects a TCP socket that is reusable until something is pending or closed', async () => {
    const { port, peers } = await serve(() => undefined);
    const factory = socketFactory();
    const socket = await factory.create(Upstream.parse(`tcp://127.0.0.1:${port}`), never);
    sockets.push(socket);
    expect(socket.readyState).toBe('open');
    expect(factory.isReusable(socket)).toBe(true);
    await vi.waitFor(() => {
      expect(peers).toHaveLength(1);
    });
    peers[0]?.write('unsolicited');
    await vi.waitFor(() => {
      expect(socket.readableLength).toBeGreaterThan(0);
    });
    expect(factory.isReusable(socket)).toBe(false); // pending data: the protocol is out of step
    socket.read();
    expect(factory.isReusable(socket)).toBe(true);
    peers[0]?.end(); // the peer half-closes
    await once(socket, 'end');
    expect(factory.isReusable(socket)).toBe(false);
    factory.destroy(socket);
    expect(socket.destroyed).toBe(true);
    expect(factory.isReusable(socket)).toBe(false);
  });

  it('recycle pauses the socket and refuses one somebody still reads from', async () => {
    const { port } = await serve();
    const factory = socketFactory();
    const socket = await factory.create(Upstream.parse(`tcp://127.0.0.1:${port}`), never);
    sockets.push(socket);
    socket.write('ping');
    const [reply] = (await once(socket, 'data')) as [Buffer];
    expect(reply.toString()).toBe('ping');
    expect(socket.readableFlowing).toBe(true);
    socket.setTimeout(5_000);
    expect(factory.recycle(socket)).toBe(true);
    expect(socket.readableFlowing).toBe(null); // as fresh: buffered until the next reader
    expect(socket.timeout).toBe(0);
    // The next user's plain 'data' listener works, with no resume() needed.
    socket.write('again');
    const [second] = (await once(socket, 'data')) as [Buffer];
    expect(second.toString()).toBe('again');
    expect(factory.recycle(socket)).toBe(true);
    socket.write('while idle');
    await vi.waitFor(() => {
      expect(socket.readableLength).toBeGreaterThan(0); // kept, where isReusable sees it
    });
    expect(factory.isReusable(socket)).toBe(false);
    socket.read();

    const reader = (): void => undefined;
    socket.on('data', reader);
    expect(factory.recycle(socket)).toBe(false); // the next user's bytes would go to `reader`
    socket.off('data', reader);
    socket.setEncoding('utf8');
    expect(factory.recycle(socket)).toBe(false);
  });

  it('reports a socket dead when the peer ends it, resets it or it closes', async () => {
    const { port, peers } = await serve(() => undefined);
    const factory = socketFactory();
    const upstream = Upstream.parse(`tcp://127.0.0.1:${port}`);
    const ended = await factory.create(upstream, never);
    const reset = await factory.create(upstream, never);
    sockets.push(ended, reset);
    const deaths: [string, unknown][] = [];
    factory.watch(ended, (reason) => deaths.push(['ended', reason]));
    factory.watch(reset, (reason) => deaths.push(['reset', reason]));
    await vi.waitFor(() => {
      expect(peers).toHaveLength(2);
    });
    const [first, second] = peers;
    // Which accepted socket is which client does not matter: each is ended one way.
    first?.end();
    second?.resetAndDestroy();
    await vi.waitFor(() => {
      expect(ended.destroyed && reset.destroyed).toBe(true);
    });
    expect(deaths.length).toBeGreaterThanOrEqual(2);
    // The reset surfaced as an 'error' on an idle socket with no user listener: no crash.
    const errors = deaths.filter(([, reason]) => reason instanceof Error);
    expect(errors.map(([, error]) => (error as NodeJS.ErrnoException).code)).toContain(
      'ECONNRESET',
    );
  });

  it('rejects with ECONNREFUSED when nothing listens, classified as an upstream failure', async () => {
    const port = await closedPort();
    const error: unknown = await socketFactory()
      .create(Upstream.parse(`tcp://127.0.0.1:${port}`), never)
      .catch((caught: unknown) => caught);
    expect((error as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(defaultClassifier.classifyError(error)).toBe('upstream');
  });

  it('times out a connect after connectTimeoutMs with an ETIMEDOUT error', async () => {
    const { port } = await serve(() => undefined);
    const clock = new VirtualClock();
    const factory = socketFactory({ connectTimeoutMs: 250, clock });
    const upstream = Upstream.parse(`tcp://127.0.0.1:${port}`);
    const pending = factory.create(upstream, never);
    // The virtual deadline passes before the loopback connect can complete.
    clock.advance(250);
    const error = (await pending.catch((caught: unknown) => caught)) as NodeJS.ErrnoException;
    expect(error.code).toBe('ETIMEDOUT');
    expect(error.message).toBe(`connect ETIMEDOUT 127.0.0.1:${port} (no connection after 250 ms)`);
    expect(defaultClassifier.classifyError(error)).toBe('timeout');
    expect(clock.pendingTimers()).toBe(0);
  });

  it('gives up when its signal aborts, and does not connect when it already has', async () => {
    const { port, peers } = await serve(() => undefined);
    const factory = socketFactory();
    const upstream = Upstream.parse(`tcp://127.0.0.1:${port}`);
    const reason = new Error('pool closed');
    await expect(factory.create(upstream, AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    const pending = factory.create(upstream, controller.signal);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const peer of peers) expect(peer.destroyed || peer.readableEnded).toBe(true);
  });

  it('speaks TLS to https:// and tls:// upstreams, with SNI for host names', async () => {
    const servernames: (string | false | null)[] = [];
    const { port } = await serve(
      (socket) => {
        if (socket instanceof tls.TLSSocket) servernames.push(socket.servername);
        socket.pipe(socket);
      },
      (listener) => tls.createServer({ key: KEY, cert: CERT }, listener),
    );
    const factory = socketFactory({ tls: { ca: CERT } });
    for (const address of [`tls://localhost:${port}`, `https://127.0.0.1:${port}`]) {
      const socket = await factory.create(Upstream.parse(address), never);
      sockets.push(socket);
      if (!(socket instanceof tls.TLSSocket)) throw new Error('expected a TLS socket');
      expect(socket.authorized).toBe(true);
      socket.write('hello');
      const [reply] = (await once(socket, 'data')) as [Buffer];
      expect(reply.toString()).toBe('hello');
      expect(factory.recycle(socket)).toBe(true);
    }
    expect(servernames).toEqual(['localhost', false]);
    // An unknown certificate is a rejection, not a hang.
    await expect(
      socketFactory().create(Upstream.parse(`tls://localhost:${port}`), never),
    ).rejects.toThrow(/self[- ]signed/);
  });

  it('validates its options', () => {
    expect(() => socketFactory({ connectTimeoutMs: 0 })).toThrow(
      'socketFactory: connectTimeoutMs must be a number in (0, 2147483647], got 0',
    );
    expect(() => socketFactory({ keepAliveInitialDelayMs: -1 })).toThrow(RangeError);
    expect(socketFactory().connectTimeoutMs).toBe(10_000);
  });
});
