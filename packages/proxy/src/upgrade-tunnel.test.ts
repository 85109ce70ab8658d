import { once } from 'node:events';
import { createServer, IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { stripHopByHop } from './hop-by-hop.js';
import { proxyUpgrade, type UpgradeOutcome } from './upgrade-tunnel.js';

const cleanups: (() => void | Promise<void>)[] = [];

function text(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString();
  if (Buffer.isBuffer(data)) return data.toString();
  return Buffer.from(new Uint8Array(data)).toString();
}

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(server: Server | NetServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  return (server.address() as { port: number }).port;
}

/** An upstream WebSocket server: greets, echoes with a prefix, and records how clients closed. */
async function wsUpstream(): Promise<{
  origin: string;
  wss: WebSocketServer;
  closes: { code: number; reason: string }[];
  seen: IncomingMessage[];
}> {
  const server = createServer((_req, res) => {
    res.end('plain');
  });
  const wss = new WebSocketServer({
    server,
    handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
  });
  const closes: { code: number; reason: string }[] = [];
  const seen: IncomingMessage[] = [];
  wss.on('connection', (ws, req) => {
    seen.push(req);
    ws.send('welcome');
    ws.on('message', (data, isBinary) => {
      if (isBinary) ws.send(data, { binary: true });
      else if (text(data) === 'bye') ws.close(4002, 'upstream says bye');
      else ws.send(`echo:${text(data)}`);
    });
    ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
  });
  cleanups.push(() => {
    for (const client of wss.clients) client.terminate();
    wss.close();
  });
  const port = await listen(server);
  return { origin: `http://127.0.0.1:${String(port)}`, wss, closes, seen };
}

/** A minimal front server whose `upgrade` listener calls proxyUpgrade towards `origin`. */
async function front(
  origin: string,
  options: { connectTimeoutMs?: number; responseTimeoutMs?: number } = {},
): Promise<{ url: string; outcomes: UpgradeOutcome[] }> {
  const server = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  const outcomes: UpgradeOutcome[] = [];
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const headers = stripHopByHop(req.headers);
    headers['x-forwarded-for'] = '127.0.0.1';
    void proxyUpgrade({
      req,
      socket,
      head,
      origin,
      headers,
      connectTimeoutMs: options.connectTimeoutMs ?? 2_000,
      ...(options.responseTimeoutMs === undefined
        ? {}
        : { responseTimeoutMs: options.responseTimeoutMs }),
    }).then((outcome) => outcomes.push(outcome));
  });
  const port = await listen(server);
  return { url: `ws://127.0.0.1:${String(port)}/socket?x=1`, outcomes };
}

function client(url: string, protocols?: string[]): WebSocket {
  const ws = new WebSocket(url, protocols);
  cleanups.push(() => {
    ws.terminate();
  });
  return ws;
}

/** Resolves with the status and body of a refused upgrade. */
function unexpectedResponse(ws: WebSocket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    ws.on('error', () => undefined);
    ws.once('open', () => {
      reject(new Error('the upgrade was accepted'));
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
  });
}

function nextMessage(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (data) => {
      resolve(text(data));
    });
  });
}

describe('proxyUpgrade', () => {
  it('tunnels a WebSocket after the upstream 101 and echoes both ways', async () => {
    const upstream = await wsUpstream();
    const proxy = await front(upstream.origin);
    const ws = client(proxy.url, ['chat']);
    const welcome = nextMessage(ws);
    await once(ws, 'open');
    expect(ws.protocol).toBe('chat');
    expect(await welcome).toBe('welcome');
    for (const text of ['one', 'two', 'x'.repeat(100_000)]) {
      const reply = nextMessage(ws);
      ws.send(text);
      expect(await reply).toBe(`echo:${text}`);
    }
    const binary = new Promise<Buffer>((resolve) => {
      ws.once('message', (data: Buffer) => {
        resolve(data);
      });
    });
    ws.send(Buffer.from([0, 1, 2, 255]));
    expect([...(await binary)]).toEqual([0, 1, 2, 255]);
    expect(proxy.outcomes).toEqual(['tunnelled']);
    const seen = upstream.seen[0];
    expect(seen?.url).toBe('/socket?x=1');
    expect(seen?.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('propagates a close from the client to the upstream', async () => {
    const upstream = await wsUpstream();
    const proxy = await front(upstream.origin);
    const ws = client(proxy.url);
    await once(ws, 'open');
    const closed = once(ws, 'close');
    ws.close(4001, 'client done');
    await closed;
    const deadline = Date.now() + 5_000;
    while (upstream.closes.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(upstream.closes).toEqual([{ code: 4001, reason: 'client done' }]);
  });

  it('propagates a close from the upstream to the client', async () => {
    const upstream = await wsUpstream();
    const proxy = await front(upstream.origin);
    const ws = client(proxy.url);
    await once(ws, 'open');
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    ws.send('bye');
    const [code, reason] = await closed;
    expect(code).toBe(4002);
    expect(reason.toString()).toBe('upstream says bye');
  });

  it('tears the tunnel down when the upstream dies', async () => {
    const upstream = await wsUpstream();
    const proxy = await front(upstream.origin);
    const ws = client(proxy.url);
    await once(ws, 'open');
    const closed = once(ws, 'close') as Promise<[number, Buffer]>;
    for (const peer of upstream.wss.clients) peer.terminate();
    const [code] = await closed;
    expect(code).toBe(1006);
  });

  it('relays a refused upgrade as a plain response', async () => {
    const server = createServer((req, res) => {
      res.writeHead(403, { 'content-type': 'text/plain', 'x-reason': 'policy' });
      res.end(`no upgrade for ${req.headers.upgrade ?? 'nothing'}`);
    });
    const port = await listen(server);
    const proxy = await front(`http://127.0.0.1:${String(port)}`);
    const refused = await unexpectedResponse(client(proxy.url));
    expect(refused).toEqual({ status: 403, body: 'no upgrade for websocket' });
    expect(proxy.outcomes).toEqual(['refused']);
  });

  it('answers 502 without detail when the upstream is unreachable', async () => {
    const probe = createNetServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const proxy = await front(`http://127.0.0.1:${String(port)}`);
    const refused = await unexpectedResponse(client(proxy.url));
    expect(refused).toEqual({ status: 502, body: 'Bad Gateway\n' });
    expect(proxy.outcomes).toEqual(['refused']);
  });

  it('answers 502 when the upstream accepts but never answers in time', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => {
      socket.resume();
      sockets.push(socket);
    });
    const port = await listen(silent);
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
    });
    const proxy = await front(`http://127.0.0.1:${String(port)}`, { responseTimeoutMs: 200 });
    const refused = await unexpectedResponse(client(proxy.url));
    expect(refused.status).toBe(502);
    // The upstream connection is given up too.
    const deadline = Date.now() + 5_000;
    while (!sockets.every((s) => s.destroyed || s.readableEnded) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(sockets.length).toBe(1);
    expect(sockets[0]?.readableEnded || sockets[0]?.destroyed).toBe(true);
  });

  it('abandons the upstream request when the client leaves before the answer', async () => {
    const sockets: Socket[] = [];
    const silent = createNetServer((socket) => {
      socket.resume();
      sockets.push(socket);
    });
    const port = await listen(silent);
    const proxy = await front(`http://127.0.0.1:${String(port)}`);
    const ws = client(proxy.url);
    ws.on('error', () => undefined);
    const deadline = Date.now() + 5_000;
    while (sockets.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const upstreamClosed = once(sockets[0]!, 'close');
    ws.terminate();
    await upstreamClosed;
    while (proxy.outcomes.length === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(proxy.outcomes).toEqual(['refused']);
  });

  it('asks nothing of the upstream when the client is already gone', async () => {
    let connections = 0;
    const upstream = createNetServer((socket) => {
      connections++;
      socket.destroy();
    });
    const port = await listen(upstream);
    const socket = new Socket();
    socket.destroy();
    const outcome = await proxyUpgrade({
      req: new IncomingMessage(socket),
      socket,
      head: Buffer.alloc(0),
      origin: `http://127.0.0.1:${String(port)}`,
      headers: {},
      connectTimeoutMs: 1_000,
    });
    // A destroyed upstream request would report "socket hang up" a tick later, with no listener.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(outcome).toBe('refused');
    expect(connections).toBe(0);
  });

  it('validates its options', async () => {
    const socket = new Socket();
    const base = {
      req: new IncomingMessage(socket),
      socket,
      head: Buffer.alloc(0),
      origin: 'http://127.0.0.1:1',
      headers: {},
      connectTimeoutMs: 1_000,
    };
    expect(() => proxyUpgrade({ ...base, connectTimeoutMs: 0 })).toThrow(/connectTimeoutMs/);
    expect(() => proxyUpgrade({ ...base, responseTimeoutMs: 1.5 })).toThrow(/responseTimeoutMs/);
    expect(() => proxyUpgrade({ ...base, origin: 'ftp://x' })).toThrow(RangeError);
  });
});
