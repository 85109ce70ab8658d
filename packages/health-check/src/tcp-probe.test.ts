import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TcpProbe } from './tcp-probe.js';

const servers: Server[] = [];

async function listen(onConnection: (socket: Socket) => void = (s) => s.resume()): Promise<number> {
  const server = createServer(onConnection).listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on: bound once, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

const signal = (): AbortSignal => new AbortController().signal;

describe('TcpProbe', () => {
  it('passes when a connection is accepted, and closes it', async () => {
    const closed: boolean[] = [];
    const port = await listen((socket) => {
      socket.resume();
      socket.on('close', () => closed.push(true));
    });
    await expect(
      new TcpProbe().probe({ name: 'a', host: '127.0.0.1', port }, signal()),
    ).resolves.toBe(undefined);
    const deadline = Date.now() + 2_000;
    while (closed.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(closed).toEqual([true]);
  });

  it('fails with ECONNREFUSED when nothing listens', async () => {
    const port = await closedPort();
    await expect(
      new TcpProbe().probe({ name: 'a', host: '127.0.0.1', port }, signal()),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('passes for a server that accepts and never answers (it only checks the connect)', async () => {
    const port = await listen(() => undefined);
    await expect(
      new TcpProbe().probe({ name: 'a', host: '127.0.0.1', port }, signal()),
    ).resolves.toBe(undefined);
  });

  it('rejects with the abort reason when aborted, before or during the connect', async () => {
    const port = await listen();
    const target = { name: 'a', host: '127.0.0.1', port };
    const before = new AbortController();
    before.abort(new Error('too late'));
    await expect(new TcpProbe().probe(target, before.signal)).rejects.toThrow('too late');
    const during = new AbortController();
    const pending = new TcpProbe().probe(target, during.signal);
    during.abort(new Error('cut'));
    await expect(pending).rejects.toThrow('cut');
  });

  it('can probe another host or port than the target', async () => {
    const port = await listen();
    const refused = await closedPort();
    await expect(
      new TcpProbe({ port }).probe({ name: 'a', host: '127.0.0.1', port: refused }, signal()),
    ).resolves.toBe(undefined);
    expect(() => new TcpProbe({ port: 70_000 })).toThrow(
      /TcpProbe: port must be an integer in \[1, 65535\]/,
    );
  });
});
