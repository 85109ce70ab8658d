// The reliability checklist of the design, run against a real proxy with raw sockets: what a
// serious proxy must refuse (smuggling, malformed heads), the statuses it must answer (400, 408,
// 414, 431), and the framing it must keep (HEAD/204/304 without a body, trailers apart from
// headers, Expect: 100-continue without a hang). Node's parser refuses several of these before
// the proxy's code runs; the tests prove the behaviour whatever provides it, and prove that the
// upstream — a loopback server recording every request — never sees a refused one.

import { EventEmitter, once } from 'node:events';
import {
  createServer,
  get as httpGet,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxy, type Proxy } from '../src/proxy.js';
import { MAX_HEADER_COUNT, MAX_URI_LENGTH } from '../src/request-validation.js';

/** What the upstream saw. */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly trailers: Record<string, string | undefined>;
  readonly body: string;
}

const seen: Seen[] = [];
/** Emits `request` (url) when the upstream receives a request, `closed` (url) when its response closes. */
const upstreamEvents = new EventEmitter();

/** Resolves when the upstream emits `event` for `url`. */
function upstreamEvent(event: 'request' | 'closed', url: string): Promise<void> {
  return new Promise((resolve) => {
    const listener = (seenUrl: string): void => {
      if (seenUrl !== url) return;
      upstreamEvents.off(event, listener);
      resolve();
    };
    upstreamEvents.on(event, listener);
  });
}

function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '';
  res.on('close', () => upstreamEvents.emit('closed', url));
  upstreamEvents.emit('request', url);
  const record = (): void => {
    seen.push({ method: req.method ?? '', url, headers: req.headers, trailers: {}, body: '' });
  };
  if (url.startsWith('/reset-before')) {
    // The connection dies before any response byte.
    record();
    req.socket.destroy();
    return;
  }
  if (url.startsWith('/reset-after')) {
    // Headers and a tenth of the promised body, then the connection dies.
    record();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
    res.write('x'.repeat(10), () => setTimeout(() => req.socket.destroy(), 50));
    return;
  }
  if (url.startsWith('/hang')) {
    // Never answers; the test watches the response close when the client goes away.
    record();
    return;
  }
  if (req.url?.startsWith('/early') === true) {
    // Answers at once, reading none of the body.
    seen.push({
      method: req.method ?? '',
      url: req.url,
      headers: req.headers,
      trailers: {},
      body: '',
    });
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': '5',
      connection: 'close',
    });
    res.end('early');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      trailers: req.trailers,
      body: Buffer.concat(chunks).toString('latin1'),
    });
    switch (req.url) {
      case '/head':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5' });
        res.end(req.method === 'HEAD' ? undefined : 'hello');
        return;
      case '/204':
        res.writeHead(204, { 'x-kind': 'no-content' });
        res.end();
        return;
      case '/304':
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        return;
      case '/trailers':
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.write('part one,');
        res.addTrailers({ 'x-checksum': 'abc123' });
        res.end('part two');
        return;
      default:
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
        res.end('ok');
    }
  });
}

let upstream: Server;
let upstreamUrl: string;
let proxy: Proxy;
let port: number;
const openSockets = new Set<Socket>();

beforeAll(async () => {
  upstream = createServer(upstreamHandler);
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamUrl = `http://127.0.0.1:${String((upstream.address() as AddressInfo).port)}`;
  proxy = createProxy({
    upstreams: [upstreamUrl],
    listen: { host: '127.0.0.1', port: 0 },
    healthCheck: false,
    retryMaxAttempts: 1,
    logLevel: 'silent',
  });
  port = (await proxy.listen()).port;
});

afterAll(async () => {
  for (const socket of openSockets) socket.destroy();
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise<void>((resolve) =>
    upstream.close(() => {
      resolve();
    }),
  );
});

interface RawResult {
  /** Everything the proxy sent, as latin1 text. */
  readonly text: string;
  /** True when the proxy closed the connection (we never close our side first). */
  readonly closedByServer: boolean;
}

/**
 * Writes `data` on a new connection (optionally in pieces, `gapMs` apart) and collects the answer
 * until the proxy closes the connection or `deadlineMs` passes.
 */
async function raw(
  data: string | readonly string[],
  options: { deadlineMs?: number; gapMs?: number; toPort?: number } = {},
): Promise<RawResult> {
  const socket = connect(options.toPort ?? port, '127.0.0.1');
  openSockets.add(socket);
  socket.setEncoding('latin1');
  let text = '';
  socket.on('data', (chunk: string) => (text += chunk));
  socket.on('error', () => undefined);
  const ended = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, options.deadlineMs ?? 10_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  await once(socket, 'connect');
  for (const piece of typeof data === 'string' ? [data] : data) {
    if (socket.destroyed) break;
    socket.write(piece);
    if (options.gapMs !== undefined) await new Promise((r) => setTimeout(r, options.gapMs));
  }
  const closedByServer = await ended;
  socket.destroy();
  openSockets.delete(socket);
  return { text, closedByServer };
}

function statusLines(text: string): string[] {
  return text.split('\r\n').filter((line) => /^HTTP\/1\.[01] \d{3}/.test(line));
}

/** A request hidden behind a malformed one; the placeholder becomes the case's own path. */
const SMUGGLED = 'GET /smuggled-$ HTTP/1.1\r\nHost: a\r\n\r\n';

/** Each refused request carries (or tries to) a second request for /smuggled. */
const MALFORMED: readonly (readonly [string, string])[] = [
  [
    'Content-Length with Transfer-Encoding',
    `POST /cl-te HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Transfer-Encoding with Content-Length',
    `POST /te-cl HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'two different Content-Length',
    `POST /dup-cl HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`,
  ],
  [
    'two equal Content-Length',
    `POST /dup-cl-same HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab${SMUGGLED}`,
  ],
  [
    'a Content-Length list',
    `POST /cl-list HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab${SMUGGLED}`,
  ],
  [
    'a signed Content-Length',
    `POST /cl-sign HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab${SMUGGLED}`,
  ],
  [
    'a non-numeric Content-Length',
    `POST /cl-nan HTTP/1.1\r\nHost: a\r\nContent-Length: 2x\r\n\r\nab${SMUGGLED}`,
  ],
  [
    'chunked not last',
    `POST /te-not-last HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'a coding before chunked',
    `POST /te-gzip HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Transfer-Encoding over two lines, chunked not last',
    `POST /te-lines HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  [
    'Transfer-Encoding on HTTP/1.0',
    `POST /te-10 HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  ],
  ['obs-fold', `GET /fold HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n${SMUGGLED}`],
  ['a bare CR ending a header line', `GET /bare-cr HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n${SMUGGLED}`],
  ['a bare LF ending a header line', `GET /bare-lf HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n${SMUGGLED}`],
  ['a bare LF ending the request line', `GET /bare-lf-line HTTP/1.1\nHost: a\r\n\r\n${SMUGGLED}`],
  ['CR inside a header value', `GET /cr-value HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n${SMUGGLED}`],
  [
    'NUL inside a header value',
    `GET /nul-value HTTP/1.1\r\nHost: a\r\nX-A: b\u0000c\r\n\r\n${SMUGGLED}`,
  ],
  [
    'white space before the colon',
    `GET /ws-colon HTTP/1.1\r\nHost: a\r\nContent-Length : 2\r\n\r\nab${SMUGGLED}`,
  ],
  ['a missing Host', `GET /no-host HTTP/1.1\r\nX-A: b\r\n\r\n${SMUGGLED}`],
  ['two Host headers', `GET /two-hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n${SMUGGLED}`],
  ['a fragment in the target', `GET /fragment#x HTTP/1.1\r\nHost: a\r\n\r\n${SMUGGLED}`],
  [
    'an invalid chunk size',
    `POST /bad-chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n${SMUGGLED}`,
  ],
];

describe('malformed requests', () => {
  it.each(MALFORMED)('%s → 400, connection closed, nothing forwarded', async (_what, request) => {
    const path = /^\S+ (\S+)/.exec(request)?.[1] ?? '?';
    const smuggled = `/smuggled-${path.slice(1)}`;
    const result = await raw(request.replace('/smuggled-$', smuggled));
    expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 400 /)]);
    expect(result.closedByServer).toBe(true);
    expect(seen.map((s) => s.url)).not.toContain(path);
    expect(seen.map((s) => s.url)).not.toContain(smuggled);
  });

  it('still proxies a good request afterwards', async () => {
    const result = await raw('GET /fine HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(statusLines(result.text)).toEqual(['HTTP/1.1 200 OK']);
    expect(result.text.endsWith('\r\n\r\nok')).toBe(true);
    expect(seen.map((s) => s.url)).toContain('/fine');
    expect(seen.map((s) => s.url).filter((url) => url.startsWith('/smuggled'))).toEqual([]);
  });
});

describe('limits', () => {
  it(`answers 414 for a URI longer than ${String(MAX_URI_LENGTH)} bytes`, async () => {
    const path = `/${'u'.repeat(MAX_URI_LENGTH)}`;
    const result = await raw(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
    expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 414 /)]);
    expect(result.closedByServer).toBe(true);
    expect(seen.map((s) => s.url)).not.toContain(path);
  });

  it(`answers 431 for more than ${String(MAX_HEADER_COUNT)} header fields`, async () => {
    const fields = Array.from({ length: MAX_HEADER_COUNT }, (_, i) => `X-F${String(i)}: v\r\n`);
    const result = await raw(`GET /many HTTP/1.1\r\nHost: a\r\n${fields.join('')}\r\n`);
    expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 431 /)]);
    expect(result.closedByServer).toBe(true);
    expect(seen.map((s) => s.url)).not.toContain('/many');
  });
});

describe('framing of bodiless responses', () => {
  it.each([
    ['HEAD', '/head'],
    ['GET', '/204'],
    ['GET', '/304'],
  ])(
    '%s %s carries no body: the next response on the connection follows at once',
    async (method, path) => {
      // Two pipelined requests; the second response must start right after the first head.
      const result = await raw(
        `${method} ${path} HTTP/1.1\r\nHost: a\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
      );
      const firstHeadEnd = result.text.indexOf('\r\n\r\n');
      expect(firstHeadEnd).toBeGreaterThan(0);
      const firstHead = result.text.slice(0, firstHeadEnd);
      const rest = result.text.slice(firstHeadEnd + 4);
      expect(rest.startsWith('HTTP/1.1 200 ')).toBe(true);
      expect(rest.endsWith('\r\n\r\nok')).toBe(true);
      expect(firstHead).not.toMatch(/transfer-encoding/i);
      if (path === '/head') {
        expect(firstHead).toMatch(/^HTTP\/1\.1 200 /);
        expect(firstHead).toMatch(/\r\ncontent-length: 5(\r\n|$)/i);
      } else {
        expect(firstHead).toMatch(new RegExp(`^HTTP/1\\.1 ${path.slice(1)} `));
        expect(firstHead).not.toMatch(/content-length: [1-9]/i);
      }
    },
  );
});

describe('trailers', () => {
  it('keeps response trailers out of the response headers', async () => {
    const response = await new Promise<{ headers: IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        httpGet(`http://127.0.0.1:${String(port)}/trailers`, { agent: false }, (res) => {
          let body = '';
          res.setEncoding('latin1');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            resolve({ headers: res.headers, body });
          });
          res.on('error', reject);
        }).on('error', reject);
      },
    );
    expect(response.body).toBe('part one,part two');
    expect(response.headers['x-checksum']).toBeUndefined();
  });

  it('keeps request trailers out of the headers the upstream sees', async () => {
    const result = await raw(
      'POST /request-trailers HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n' +
        '4\r\nbody\r\n0\r\nX-Sum: 42\r\n\r\n',
    );
    expect(statusLines(result.text)).toEqual(['HTTP/1.1 200 OK']);
    const upstreamSaw = seen.find((s) => s.url === '/request-trailers');
    expect(upstreamSaw?.body).toBe('body');
    expect(upstreamSaw?.headers['x-sum']).toBeUndefined();
  });
});

describe('Expect: 100-continue', () => {
  /**
   * Sends a head with `Expect: 100-continue`, then (only after an interim 100, as a client
   * honouring Expect does) `body`, and keeps the connection open until the final response has
   * fully arrived or 10 s have passed. Returns the final response.
   */
  async function expectContinue(
    path: string,
    contentLength: number,
    body: string,
  ): Promise<string> {
    const socket = connect(port, '127.0.0.1');
    openSockets.add(socket);
    socket.setEncoding('latin1');
    socket.on('error', () => undefined);
    let text = '';
    let sentBody = false;
    const finalOf = (): string => text.replace(/^(HTTP\/1\.1 100 [^\r]*\r\n\r\n)+/, '');
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      const finish = (): void => {
        clearTimeout(timer);
        resolve();
      };
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (!sentBody && /^HTTP\/1\.1 100 [^\r]*\r\n\r\n/.test(text)) {
          sentBody = true;
          socket.write(body);
        }
        if (/^HTTP\/1\.1 [2-5]\d\d [\s\S]*\r\n\r\nearly$/.test(finalOf())) finish();
      });
      socket.once('close', finish);
    });
    await once(socket, 'connect');
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: ${String(contentLength)}\r\nExpect: 100-continue\r\n\r\n`,
    );
    await done;
    socket.destroy();
    openSockets.delete(socket);
    return finalOf();
  }

  it('does not hang when the upstream answers without reading a small body', async () => {
    const final = await expectContinue('/early-small', 5, 'hello');
    expect(final).toMatch(/^HTTP\/1\.1 200 /);
    expect(final.endsWith('\r\n\r\nearly')).toBe(true);
  });

  it('does not hang when the upstream answers early while a large body is still coming', async () => {
    // Far above the streaming threshold, and the client sends only the first kilobyte.
    const final = await expectContinue('/early-large', 64 * 1024 * 1024, 'x'.repeat(1024));
    expect(final).toMatch(/^HTTP\/1\.1 200 /);
    expect(final.endsWith('\r\n\r\nearly')).toBe(true);
  });
});

describe('upstream failures', () => {
  it('answers 502 when the upstream resets before its response headers', async () => {
    const result = await raw(
      'GET /reset-before-1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 502 /)]);
  });

  it('truncates the response, never completes it, when the upstream resets after its headers', async () => {
    const result = await raw('GET /reset-after-1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(statusLines(result.text)).toEqual(['HTTP/1.1 200 OK']);
    const headEnd = result.text.indexOf('\r\n\r\n');
    const head = result.text.slice(0, headEnd);
    const body = result.text.slice(headEnd + 4);
    expect(result.closedByServer).toBe(true);
    if (/\r\ncontent-length: 100\r\n/i.test(`${head}\r\n`)) {
      // Framed by length: fewer bytes than promised, then the connection closed.
      expect(body.length).toBeLessThan(100);
    } else {
      // Framed by chunks: the terminating zero-size chunk must be missing.
      expect(head).toMatch(/\r\ntransfer-encoding: chunked/i);
      expect(body).not.toMatch(/(^|\r\n)0\r\n\r\n$/);
    }
  });

  it('releases the upstream request when the client goes away', async () => {
    const socket = connect(port, '127.0.0.1');
    openSockets.add(socket);
    socket.on('error', () => undefined);
    await once(socket, 'connect');
    const received = upstreamEvent('request', '/hang-1');
    const released = upstreamEvent('closed', '/hang-1');
    socket.write('GET /hang-1 HTTP/1.1\r\nHost: a\r\n\r\n');
    await received;
    socket.destroy();
    openSockets.delete(socket);
    // Resolves only if the proxy cancels its upstream request; the test times out otherwise.
    await released;
    expect(seen.filter((s) => s.url === '/hang-1')).toHaveLength(1);
  });
});

describe('retries', () => {
  let retrying: Proxy;
  let retryPort: number;

  beforeAll(async () => {
    retrying = createProxy({
      upstreams: [upstreamUrl],
      listen: { host: '127.0.0.1', port: 0 },
      healthCheck: false,
      circuitBreaker: false,
      retryMaxAttempts: 3,
      retryBackoffBaseMs: 1,
      retryBackoffMaxMs: 5,
      logLevel: 'silent',
    });
    retryPort = (await retrying.listen()).port;
  });

  afterAll(async () => {
    await retrying.close();
  });

  it('never repeats a POST that reached the upstream, while a GET is retried', async () => {
    const post = await raw(
      'POST /reset-before-post HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody',
      { toPort: retryPort },
    );
    expect(statusLines(post.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 502 /)]);
    expect(seen.filter((s) => s.url === '/reset-before-post')).toHaveLength(1);

    const get = await raw(
      'GET /reset-before-get HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      {
        toPort: retryPort,
      },
    );
    expect(statusLines(get.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 502 /)]);
    expect(seen.filter((s) => s.url === '/reset-before-get')).toHaveLength(3);
  });
});

describe('hop-by-hop headers and forwarding headers', () => {
  it('strips names listed in Connection before adding its own X-Forwarded-* and Forwarded', async () => {
    const result = await raw(
      'GET /listed HTTP/1.1\r\nHost: shop.example\r\n' +
        'Connection: close, X-Forwarded-For, Forwarded, X-Forwarded-Host\r\n' +
        'X-Forwarded-For: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nX-Forwarded-Host: evil.example\r\n\r\n',
    );
    expect(statusLines(result.text)).toEqual(['HTTP/1.1 200 OK']);
    const headers = seen.find((s) => s.url === '/listed')?.headers;
    expect(headers?.['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers?.forwarded).toBe('for=127.0.0.1;host=shop.example;proto=http');
    expect(headers?.['x-forwarded-host']).toBe('shop.example');
    expect(headers?.connection).not.toMatch(/forwarded/i);
  });
});
describe('request targets (RFC 9112 §3.2)', () => {
  it('forwards an absolute-form request in origin-form, with the Host the target names', async () => {
    const result = await raw(
      'GET http://shop.example:8080/absolute?x=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n',
    );
    expect(statusLines(result.text)).toEqual(['HTTP/1.1 200 OK']);
    const headers = seen.find((s) => s.url === '/absolute?x=1')?.headers;
    expect(headers?.['x-forwarded-host']).toBe('shop.example:8080');
    expect(headers?.forwarded).toBe('for=127.0.0.1;host="shop.example:8080";proto=http');
    expect(headers?.host).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('refuses asterisk-form and other targets with 400, forwarding nothing', async () => {
    for (const target of [
      '*',
      'ftp://shop.example/other-target',
      'http://user@shop.example/userinfo',
    ]) {
      const result = await raw(`OPTIONS ${target} HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 400 /)]);
      expect(result.closedByServer).toBe(true);
    }
    expect(seen.map((s) => s.url).filter((url) => /target|userinfo|^\*$/.test(url))).toEqual([]);
  });
});

/**
 * Opens `count` connections, 100 at a time, that each send `request` and reset the connection at
 * once (RST, not FIN); resolves when all have closed.
 */
async function sendAndReset(request: string, count: number): Promise<void> {
  for (let sent = 0; sent < count; sent += 100) {
    await Promise.all(
      Array.from(
        { length: Math.min(100, count - sent) },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(port, '127.0.0.1', () => {
              socket.write(request);
              setImmediate(() => socket.resetAndDestroy());
            });
            socket.on('error', () => undefined);
            socket.on('close', () => {
              resolve();
            });
          }),
      ),
    );
  }
}

describe('clients that reset the connection', () => {
  it('answers CONNECT with 501 and closes the connection', async () => {
    const result = await raw('CONNECT shop.example:443 HTTP/1.1\r\nHost: shop.example:443\r\n\r\n');
    expect(statusLines(result.text)).toEqual(['HTTP/1.1 501 Not Implemented']);
    expect(result.closedByServer).toBe(true);
  });

  it('survives clients that reset right after an Upgrade or CONNECT it refuses', async () => {
    // The proxy writes its refusal on a socket Node handed over without an error listener; a
    // reset arriving first used to throw from that write and take the process down.
    await sendAndReset(
      'GET /ws HTTP/1.1\r\nHost: a\r\nHost: b\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n',
      500,
    );
    await sendAndReset('CONNECT shop.example:443 HTTP/1.1\r\nHost: shop.example:443\r\n\r\n', 500);
    const result = await raw('GET /after-resets HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(statusLines(result.text)).toEqual(['HTTP/1.1 200 OK']);
  });
});

describe('pipelined requests on a connection that dies', () => {
  it('give back their in-flight slots, even those whose response was still queued', async () => {
    // Node never gives a queued response its socket when the connection dies first, and emits no
    // 'close' for it; with 2 slots, two such connections used to leave the proxy refusing all.
    const small = createProxy({
      upstreams: [upstreamUrl],
      listen: { host: '127.0.0.1', port: 0 },
      healthCheck: false,
      retryMaxAttempts: 1,
      maxInFlight: 2,
      logLevel: 'silent',
    });
    const smallPort = (await small.listen()).port;
    try {
      for (const round of [1, 2, 3]) {
        const queuedSeen = upstreamEvent('request', `/queued-${String(round)}`);
        const socket = connect(smallPort, '127.0.0.1');
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        // The first never gets an answer; the second is forwarded while its response waits.
        // (`Content-Length: 0` keeps them off the lean path, which answers pipelined requests one
        // after the other: Node's server, which dispatches them at once, is the one tested.)
        socket.write(
          `GET /hang-${String(round)} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\nGET /queued-${String(round)} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n`,
        );
        await Promise.race([
          queuedSeen,
          new Promise((_resolve, reject) => {
            setTimeout(() => {
              reject(new Error(`round ${String(round)}: the queued request was never forwarded`));
            }, 5_000).unref();
          }),
        ]);
        const closed = once(socket, 'close');
        socket.resetAndDestroy();
        await closed;
      }
      const result = await raw(
        'GET /after-pipelined HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
        {
          toPort: smallPort,
        },
      );
      expect(statusLines(result.text)).toEqual(['HTTP/1.1 200 OK']);
    } finally {
      await small.close();
    }
  });
});

describe('pipelined requests on the lean path', () => {
  it('are answered in order, and a connection that dies mid-way gives its slot back', async () => {
    const small = createProxy({
      upstreams: [upstreamUrl],
      listen: { host: '127.0.0.1', port: 0 },
      healthCheck: false,
      retryMaxAttempts: 1,
      maxInFlight: 1,
      logLevel: 'silent',
    });
    const smallPort = (await small.listen()).port;
    try {
      const answered = await raw(
        'GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\nGET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
        { toPort: smallPort },
      );
      // Each 2-byte body ('ok') runs into the next status line.
      expect(answered.text.match(/HTTP\/1\.1 \d{3} [^\r]*\r\n/g)).toEqual([
        'HTTP/1.1 200 OK\r\n',
        'HTTP/1.1 200 OK\r\n',
        'HTTP/1.1 200 OK\r\n',
      ]);
      expect(answered.text.endsWith('ok')).toBe(true);
      expect(answered.closedByServer).toBe(true);
      for (const round of [1, 2]) {
        const hanging = upstreamEvent('request', `/hang-lean-${String(round)}`);
        const socket = connect(smallPort, '127.0.0.1');
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        socket.write(
          `GET /hang-lean-${String(round)} HTTP/1.1\r\nHost: a\r\n\r\nGET /never-${String(round)} HTTP/1.1\r\nHost: a\r\n\r\n`,
        );
        await hanging;
        const closed = once(socket, 'close');
        socket.resetAndDestroy();
        await closed;
      }
      // With one slot, a slot kept by a dead connection would make this a 503.
      const after = await raw('GET /after HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', {
        toPort: smallPort,
      });
      expect(statusLines(after.text)).toEqual(['HTTP/1.1 200 OK']);
      expect(seen.map((s) => s.url)).not.toContain('/never-1');
    } finally {
      await small.close();
    }
  });
});

describe('oversized and slow requests', () => {
  it('answers 431 for a head larger than the header limit', async () => {
    const result = await raw(
      `GET /big HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
    );
    expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 431 /)]);
    expect(result.closedByServer).toBe(true);
    expect(seen.map((s) => s.url)).not.toContain('/big');
  });

  describe('with short server timeouts', () => {
    let slowProxy: Proxy;
    let slowPort: number;

    beforeAll(async () => {
      slowProxy = createProxy({
        upstreams: [upstreamUrl],
        listen: { host: '127.0.0.1', port: 0 },
        healthCheck: false,
        retryMaxAttempts: 1,
        logLevel: 'silent',
      });
      // The ingress server's own timeouts, shortened so the test takes seconds, not minutes.
      slowProxy.server.headersTimeout = 1_000;
      slowProxy.server.requestTimeout = 2_000;
      slowPort = (await slowProxy.listen()).port;
    });

    afterAll(async () => {
      await slowProxy.close();
    });

    it('answers 408 to a client that never finishes its head (slowloris)', async () => {
      const result = await raw(['GET /slow-head HTTP/1.1\r\n', 'Host: a\r\n', 'X-A: b\r\n'], {
        toPort: slowPort,
        gapMs: 100,
      });
      expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 408 /)]);
      expect(result.closedByServer).toBe(true);
      expect(seen.map((s) => s.url)).not.toContain('/slow-head');
    });

    it('answers 408 to a client that never finishes its body', async () => {
      const result = await raw(
        ['POST /slow-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n', 'only part'],
        { toPort: slowPort, gapMs: 100 },
      );
      expect(statusLines(result.text)).toEqual([expect.stringMatching(/^HTTP\/1\.1 408 /)]);
      expect(result.closedByServer).toBe(true);
    });
  });
});
