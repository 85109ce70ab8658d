// Random traffic against a real proxy over raw sockets, from both sides. Clients send well-formed
// and broken request heads (bytes inserted, deleted, cut short, requests run together), whole or in
// two pieces, and wait for the answer, close, or reset the connection at a random moment. An
// upstream answers with well-formed and broken responses (1xx before the answer, conflicting
// framing, control characters, oversized heads, a body delimited by the close), whole, cut short
// by a reset or a close, or not at all. Whatever happens, the proxy process must stay up, answer
// every client or close on it, and give every in-flight slot back: an error thrown from a socket
// or a request with no listener left would take it down (and fail this file with an unhandled
// error), and a slot kept would leave it answering 503 to everyone.
// The first upstream speaks plain HTTP and WebSocket, so Upgrade requests reach the tunnel too; a
// low in-flight limit and rate limit bring the refusal paths in.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { fc } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createProxy, type Proxy } from '../src/proxy.js';

const TEMPLATES: readonly string[] = [
  'GET /a?b=1 HTTP/1.1\r\nHost: a\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello',
  'POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
  'GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n',
  'GET http://h.example:81/x HTTP/1.1\r\nHost: z\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n',
  'PUT /e HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc',
  'GET /slow HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /status.json HTTP/1.1\r\nHost: a\r\n\r\n',
  'GET /healthz?check=upstream HTTP/1.0\r\n\r\n',
  'HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Forwarded-For\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nForwarded: for="[::1]";proto=https\r\nX-Forwarded-For: ::ffff:1.2.3.4, 2001:DB8::1\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n',
];

/** What an edit inserts: separators, bytes parsers trip on, whole header lines and requests. */
const SPICE: readonly string[] = [
  '\r',
  '\n',
  '\0',
  ':',
  ' ',
  '\t',
  ',',
  '"',
  '#',
  '?',
  '/',
  '\r\n\r\n',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 9\r\n',
  'Host: b\r\n',
  'Upgrade: websocket\r\n',
  '\u00ff',
  ...TEMPLATES,
];

const edit = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('insert', 'delete', 'truncate'),
  spice: fc.constantFrom(...SPICE),
});

/** One client: what it sends, whether in two pieces, and how it leaves. */
const clientArbitrary = fc.record({
  requests: fc.array(fc.constantFrom(...TEMPLATES), { minLength: 1, maxLength: 2 }),
  edits: fc.array(edit, { maxLength: 3 }),
  splitAt: fc.option(fc.nat(), { nil: undefined }),
  leave: fc.constantFrom('reset', 'end', 'wait'),
  afterMs: fc.integer({ min: 0, max: 10 }),
});

type Client = typeof clientArbitrary extends fc.Arbitrary<infer T> ? T : never;

function bytesOf(client: Pick<Client, 'requests' | 'edits'>): Buffer {
  let text = client.requests.join('');
  for (const { at, kind, spice } of client.edits) {
    const i = at % (text.length + 1);
    if (kind === 'insert') text = text.slice(0, i) + spice + text.slice(i);
    else if (kind === 'delete') text = text.slice(0, i) + text.slice(i + 1);
    else text = text.slice(0, i);
  }
  return Buffer.from(text, 'latin1');
}

/** Plays one client against `port`; resolves once its connection has closed. */
function play(port: number, client: Client): Promise<void> {
  return new Promise((resolve) => {
    const bytes = bytesOf(client);
    const socket = connect(port, '127.0.0.1', () => {
      const split =
        client.splitAt === undefined ? bytes.length : client.splitAt % (bytes.length + 1);
      socket.write(bytes.subarray(0, split));
      setTimeout(() => {
        if (!socket.destroyed) socket.write(bytes.subarray(split));
      }, client.afterMs / 2);
      setTimeout(() => {
        if (client.leave === 'reset') socket.resetAndDestroy();
        else if (client.leave === 'end') socket.end();
      }, client.afterMs);
      // Whoever waits gives up after a while: some requests are meant never to be answered.
      setTimeout(() => socket.destroy(), 150);
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      resolve();
    });
  });
}

/** Listens on 127.0.0.1 with a port the system picks; resolves with the server's `http://` URL. */
async function listenOnLoopback(server: NetServer): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
}

let upstream: Server;
let proxy: Proxy;
let port: number;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    const answer = (): void => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    };
    if (req.url?.startsWith('/slow') === true) setTimeout(answer, 20);
    else answer();
  });
  const wss = new WebSocketServer({ server: upstream });
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      ws.send(data);
    });
  });
  const upstreamUrl = await listenOnLoopback(upstream);
  proxy = createProxy({
    upstreams: [upstreamUrl],
    listen: { host: '127.0.0.1', port: 0 },
    healthCheck: true,
    healthCheckIntervalSecs: 1,
    circuitBreaker: true,
    retryMaxAttempts: 3,
    maxInFlight: 8,
    rateLimitRps: 500,
    rateLimitBurst: 100,
    trustedProxies: ['127.0.0.0/8'],
    exposeDebugHeaders: true,
    logLevel: 'silent',
  });
  port = (await proxy.listen()).port;
});

afterAll(async () => {
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise<void>((resolve) =>
    upstream.close(() => {
      resolve();
    }),
  );
});

describe('random traffic', () => {
  it('never takes the proxy down, whatever the bytes and however the client leaves', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(clientArbitrary, { minLength: 20, maxLength: 20 }),
        async (clients) => {
          await Promise.all(clients.map((client) => play(port, client)));
        },
      ),
      { numRuns: 40 },
    );
    // Still serving: a good request after all that is proxied as usual (after the rate limit's
    // burst has had time to refill).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const response = await fetch(`http://127.0.0.1:${String(port)}/after`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ok');
  });
});

/** Responses an upstream may give, from textbook to broken. */
const RESPONSES: readonly string[] = [
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n',
  'HTTP/1.1 204 No Content\r\n\r\n',
  'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
  'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad',
  'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close',
  'HTTP/1.0 200 OK\r\n\r\nold',
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 200 OK\r\nX-Bad: a\u0001b\r\nContent-Length: 2\r\n\r\nok',
  `HTTP/1.1 200 OK\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`,
  'garbage\r\n\r\n',
];

const upstreamBehaviour = fc.record({
  response: fc.constantFrom(...RESPONSES),
  edits: fc.array(edit, { maxLength: 2 }),
  how: fc.constantFrom('whole', 'whole', 'cut then reset', 'cut then close', 'silent'),
  cutAt: fc.nat(),
});

type UpstreamBehaviour = typeof upstreamBehaviour extends fc.Arbitrary<infer T> ? T : never;

const GOOD: UpstreamBehaviour = { response: RESPONSES[0] ?? '', edits: [], how: 'whole', cutAt: 0 };

describe('random upstream behaviour', () => {
  let script: UpstreamBehaviour[] = [];
  let next = 0;
  let rawUpstream: ReturnType<typeof createTcpServer>;
  let front: Proxy;
  let frontPort: number;
  const upstreamSockets = new Set<Socket>();

  beforeAll(async () => {
    // Each chunk a connection receives (a request head, mostly) is answered by the next behaviour.
    rawUpstream = createTcpServer((socket) => {
      upstreamSockets.add(socket);
      socket.on('close', () => upstreamSockets.delete(socket));
      socket.on('error', () => undefined);
      socket.on('data', () => {
        const behaviour = script.length === 0 ? GOOD : (script[next++ % script.length] ?? GOOD);
        const bytes = bytesOf({ requests: [behaviour.response], edits: behaviour.edits });
        const cut = behaviour.cutAt % (bytes.length + 1);
        if (behaviour.how === 'whole') socket.write(bytes);
        else if (behaviour.how === 'cut then reset') {
          socket.write(bytes.subarray(0, cut), () => socket.resetAndDestroy());
        } else if (behaviour.how === 'cut then close') socket.end(bytes.subarray(0, cut));
      });
    });
    const rawUpstreamUrl = await listenOnLoopback(rawUpstream);
    front = createProxy({
      upstreams: [rawUpstreamUrl],
      listen: { host: '127.0.0.1', port: 0 },
      healthCheck: false,
      circuitBreaker: false,
      retryMaxAttempts: 2,
      retryBackoffBaseMs: 1,
      retryBackoffMaxMs: 5,
      requestTimeoutMs: 100,
      maxInFlight: 4,
      logLevel: 'silent',
    });
    frontPort = (await front.listen()).port;
  });

  afterAll(async () => {
    await front.close();
    for (const socket of upstreamSockets) socket.destroy();
    await new Promise<void>((resolve) =>
      rawUpstream.close(() => {
        resolve();
      }),
    );
  });

  it('answers every client or closes on it, and gives every in-flight slot back', async () => {
    const methods = ['GET', 'HEAD', 'POST', 'DELETE'] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.array(upstreamBehaviour, { minLength: 1, maxLength: 8 }),
        fc.array(fc.constantFrom(...methods), { minLength: 4, maxLength: 4 }),
        async (behaviours, requests) => {
          script = behaviours;
          next = 0;
          await Promise.all(
            requests.map(async (method, i) => {
              // Within the request timeout plus retries, every request ends one way or the other.
              const response = await fetch(`http://127.0.0.1:${String(frontPort)}/r${String(i)}`, {
                method,
                ...(method === 'POST' ? { body: 'body' } : {}),
                signal: AbortSignal.timeout(5_000),
              }).catch((error: unknown) => error);
              if (response instanceof Response) await response.arrayBuffer().catch(() => undefined);
              else expect((response as Error).name).not.toBe('TimeoutError');
            }),
          );
        },
      ),
      { numRuns: 10 },
    );
    // Every slot is free again: as many good requests as the limit all get through at once.
    script = [];
    const statuses = await Promise.all(
      [0, 1, 2, 3].map(async (i) => {
        const response = await fetch(`http://127.0.0.1:${String(frontPort)}/after-${String(i)}`);
        await response.arrayBuffer();
        return response.status;
      }),
    );
    expect(statuses).toEqual([200, 200, 200, 200]);
  }, 60_000);
});
