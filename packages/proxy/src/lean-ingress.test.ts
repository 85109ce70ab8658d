import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  Agent,
  createServer,
  IncomingMessage,
  request,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { installLeanIngress, type LeanIngress } from './lean-ingress.js';
import { LeanResponse } from './lean-response.js';
import { INGRESS_SERVER_OPTIONS } from './request-validation.js';

/** Every test stays well within this, and each wait inside a test has a shorter bound of its own. */
const TEST_TIMEOUT = { timeout: 10_000 };

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** One request as the server's 'request' listener saw it. */
interface Served {
  readonly method: string;
  readonly url: string;
  /** Read on the lean path (a LeanRequest), not by Node's HTTP server (an IncomingMessage). */
  readonly lean: boolean;
  /** The client's port: which connection it came on. */
  readonly remotePort: number;
}

interface Started {
  readonly server: Server;
  readonly port: number;
  readonly ingress: LeanIngress;
  readonly served: Served[];
}

const servers: Server[] = [];
const sockets: Socket[] = [];
const agents: Agent[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  for (const agent of agents.splice(0)) agent.destroy();
  await Promise.all(
    servers.splice(0).map(async (server) => {
      server.closeAllConnections();
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve();
        }),
      );
    }),
  );
});

/**
 * A server as the ingress makes it (INGRESS_SERVER_OPTIONS, lean ingress installed right after
 * creation), listening on 127.0.0.1 with a free port.
 */
async function start(
  handler: Handler,
  options: { keepAliveTimeout?: number; takesPath?: (path: string) => boolean } = {},
): Promise<Started> {
  const served: Served[] = [];
  const server = createServer(INGRESS_SERVER_OPTIONS, (req, res) => {
    served.push({
      method: req.method ?? '',
      url: req.url ?? '',
      lean: !(req instanceof IncomingMessage),
      remotePort: req.socket.remotePort ?? 0,
    });
    handler(req, res);
  });
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
  const ingress = installLeanIngress(server, options.takesPath ?? (() => true));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, ingress, served };
}

/** Answers with `body` and its Content-Length. */
function reply(res: ServerResponse, body: string, status = 200): void {
  res.writeHead(status, {
    'content-type': 'text/plain',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answers "METHOD URL" and, for a request Node read, ":" and its body. */
const echo: Handler = (req, res) => {
  const chunks: Buffer[] = [];
  const send = (): void => {
    const body = Buffer.concat(chunks).toString();
    reply(res, `${req.method ?? ''} ${req.url ?? ''}${body === '' ? '' : `:${body}`}`);
  };
  if (req instanceof IncomingMessage) {
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', send);
  } else send();
};

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `test` until it holds; throws after `ms`. */
async function waitUntil(test: () => boolean | Promise<boolean>, what: string, ms = 3_000) {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.getConnections((error, count) => {
      if (error === null) resolve(count);
      else reject(error);
    });
  });
}

/** A response as read off the wire by {@link RawClient}. */
interface RawResponse {
  readonly status: number;
  /** Lower-case names; repeated fields joined with ', '. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

/**
 * Reads one response from the front of `data`, framed as RFC 9112 says: no body after HEAD, 1xx,
 * 204 or 304; chunked; Content-Length; or up to the end of the connection. `undefined` while
 * incomplete; throws on bytes that are not a response.
 */
function parseResponse(
  data: Buffer,
  method: string,
  ended: boolean,
): { response: RawResponse; used: number } | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd === -1) {
    if (data.length > 0 && !'HTTP/1.1 '.startsWith(data.toString('latin1', 0, 9))) {
      throw new Error(`not a response: ${JSON.stringify(data.toString('latin1', 0, 80))}`);
    }
    return undefined;
  }
  const lines = data.toString('latin1', 0, headEnd).split('\r\n');
  const statusLine = /^HTTP\/1\.1 (\d{3}) [^\r\n]*$/.exec(lines[0] ?? '');
  if (statusLine === null) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
  const status = Number(statusLine[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const field = /^([^:\s]+):[ \t]*(.*?)[ \t]*$/.exec(line);
    if (field === null) throw new Error(`not a field line: ${JSON.stringify(line)}`);
    const name = (field[1] ?? '').toLowerCase();
    const value = field[2] ?? '';
    headers[name] = Object.hasOwn(headers, name) ? `${headers[name] ?? ''}, ${value}` : value;
  }
  const bodyStart = headEnd + 4;
  const done = (body: Buffer, used: number) => ({ response: { status, headers, body }, used });
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200) {
    return done(Buffer.alloc(0), bodyStart);
  }
  if (headers['transfer-encoding'] !== undefined) {
    if (headers['transfer-encoding'] !== 'chunked') {
      throw new Error(`unexpected transfer-encoding ${headers['transfer-encoding']}`);
    }
    const parts: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = data.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const sizeText = data.toString('latin1', at, lineEnd);
      if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size ${sizeText}`);
      const size = parseInt(sizeText, 16);
      const chunkEnd = lineEnd + 2 + size;
      if (data.length < chunkEnd + 2) return undefined;
      if (data.toString('latin1', chunkEnd, chunkEnd + 2) !== '\r\n') {
        throw new Error('chunk not followed by CRLF');
      }
      if (size === 0) return done(Buffer.concat(parts), chunkEnd + 2);
      parts.push(data.subarray(lineEnd + 2, chunkEnd));
      at = chunkEnd + 2;
    }
  }
  const length = headers['content-length'];
  if (length !== undefined) {
    const end = bodyStart + Number(length);
    return data.length < end ? undefined : done(data.subarray(bodyStart, end), end);
  }
  return ended ? done(data.subarray(bodyStart), data.length) : undefined;
}

/** A raw TCP client: writes bytes as given, reads responses off the wire. */
class RawClient {
  readonly socket: Socket;
  ended = false;
  closed = false;
  #data = Buffer.alloc(0);
  #wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    sockets.push(socket);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#data = Buffer.concat([this.#data, chunk]);
      this.#wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, allowHalfOpen = false): Promise<RawClient> {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen });
    const client = new RawClient(socket);
    await once(socket, 'connect');
    return client;
  }

  /** Bytes received and not yet read as a response. */
  get unread(): Buffer {
    return this.#data;
  }

  write(text: string): void {
    this.socket.write(Buffer.from(text, 'latin1'));
  }

  /** The next response (to a `method` request), whole. */
  response(method = 'GET', ms = 3_000): Promise<RawResponse> {
    return this.until(
      () => {
        const parsed = parseResponse(this.#data, method, this.ended);
        if (parsed === undefined) return undefined;
        this.#data = this.#data.subarray(parsed.used);
        return parsed.response;
      },
      `a response to ${method}`,
      ms,
    );
  }

  /** Resolves once the connection closed. */
  closing(ms = 3_000): Promise<true> {
    return this.until(() => (this.closed ? true : undefined), 'the connection to close', ms);
  }

  /** Waits until `test` gives a value; throws after `ms`, or once closed without one. */
  async until<T>(test: () => T | undefined, what: string, ms: number): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = test();
      if (value !== undefined) return value;
      if (this.closed) throw new Error(`connection closed before ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }
}

function get(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: example.test\r\n${extra}\r\n`;
}

function post(path: string, body: string): string {
  return `POST ${path} HTTP/1.1\r\nHost: example.test\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** A response as node:http's client saw it. */
interface Fetched {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The client's port: which connection the request went on. */
  readonly localPort: number;
}

/** One request with node:http's client (keep-alive `agent`), bounded by `ms`. */
function fetchWith(
  agent: Agent,
  port: number,
  method: string,
  path: string,
  ms = 5_000,
): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      const localPort = res.socket.localPort ?? 0;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          localPort,
        });
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${path}: no whole response within ${String(ms)} ms`));
    }, ms);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  agents.push(agent);
  return agent;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

describe('installLeanIngress: which path serves a request', TEST_TIMEOUT, () => {
  it('serves a GET lean, hands the connection to Node at a POST with a body, and Node keeps it', async () => {
    const { port, served, ingress } = await start(echo);
    const client = await RawClient.open(port);
    client.write(get('/first'));
    const first = await client.response();
    expect(first.status).toBe(200);
    expect(first.body.toString()).toBe('GET /first');
    expect(first.headers.connection).toBe('keep-alive');
    expect(ingress.connections).toBe(1);

    client.write(post('/second', 'hello body'));
    const second = await client.response('POST');
    expect(second.status).toBe(200);
    expect(second.body.toString()).toBe('POST /second:hello body');
    expect(ingress.connections).toBe(0);

    client.write(get('/third'));
    const third = await client.response();
    expect(third.status).toBe(200);
    expect(third.body.toString()).toBe('GET /third');
    expect(client.closed).toBe(false);
    expect(served.map(({ method, url, lean }) => ({ method, url, lean }))).toEqual([
      { method: 'GET', url: '/first', lean: true },
      { method: 'POST', url: '/second', lean: false },
      { method: 'GET', url: '/third', lean: false },
    ]);
    expect(new Set(served.map((s) => s.remotePort)).size).toBe(1);
  });

  it('hands over the unread bytes when a body-carrying request is pipelined behind a lean one', async () => {
    const { port, served } = await start((req, res) => {
      // The lean request is answered late, so the POST and the GET wait unread meanwhile.
      if (req.url === '/slow')
        setTimeout(() => {
          echo(req, res);
        }, 100);
      else echo(req, res);
    });
    const client = await RawClient.open(port);
    client.write(get('/slow') + post('/post', 'abc') + get('/after'));
    expect((await client.response()).body.toString()).toBe('GET /slow');
    expect((await client.response('POST')).body.toString()).toBe('POST /post:abc');
    expect((await client.response()).body.toString()).toBe('GET /after');
    expect(served.map(({ url, lean }) => [url, lean])).toEqual([
      ['/slow', true],
      ['/post', false],
      ['/after', false],
    ]);
  });

  it('serves pipelined lean requests one at a time, in order', async () => {
    let active = 0;
    let mostActive = 0;
    const { port, served } = await start((req, res) => {
      active += 1;
      mostActive = Math.max(mostActive, active);
      const wait = req.url === '/a' ? 150 : req.url === '/b' ? 0 : 50;
      setTimeout(() => {
        active -= 1;
        echo(req, res);
      }, wait);
    });
    const client = await RawClient.open(port);
    client.write(get('/a') + get('/b') + get('/c'));
    const bodies = [];
    for (let i = 0; i < 3; i += 1) bodies.push((await client.response()).body.toString());
    expect(bodies).toEqual(['GET /a', 'GET /b', 'GET /c']);
    expect(mostActive).toBe(1);
    expect(served.every((s) => s.lean)).toBe(true);
  });

  it('hands a request whose path takesPath refuses (asked without the query) to Node', async () => {
    const asked: string[] = [];
    const { port, served } = await start(echo, {
      takesPath: (path) => {
        asked.push(path);
        return path !== '/own';
      },
    });
    const client = await RawClient.open(port);
    client.write(get('/proxied?x=1'));
    expect((await client.response()).body.toString()).toBe('GET /proxied?x=1');
    client.write(get('/own?y=2'));
    expect((await client.response()).body.toString()).toBe('GET /own?y=2');
    client.write(get('/proxied'));
    expect((await client.response()).body.toString()).toBe('GET /proxied');
    expect(asked).toEqual(['/proxied', '/own']);
    expect(served.map(({ url, lean }) => [url, lean])).toEqual([
      ['/proxied?x=1', true],
      ['/own?y=2', false],
      ['/proxied', false],
    ]);
  });

  it('hands a head split across two reads to Node, which answers it whole', async () => {
    const { port, served } = await start(echo);
    const client = await RawClient.open(port);
    const head = get('/split?q=1', 'X-Extra: yes\r\n');
    const cut = head.indexOf('Host') + 2;
    client.write(head.slice(0, cut));
    await delay(60);
    expect(client.unread.length).toBe(0);
    client.write(head.slice(cut));
    const response = await client.response();
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('GET /split?q=1');
    client.write(get('/next'));
    expect((await client.response()).body.toString()).toBe('GET /next');
    expect(served.map(({ url, lean }) => [url, lean])).toEqual([
      ['/split?q=1', false],
      ['/next', false],
    ]);
  });
});

describe('LeanResponse framing, as node:http’s client reads it', TEST_TIMEOUT, () => {
  const CHUNK = 64 * 1024;
  const CHUNKS = 128; // 8 MiB
  const chunkAt = (i: number): Buffer => Buffer.alloc(CHUNK, (i * 7 + 1) % 251);
  const large = Buffer.concat(Array.from({ length: CHUNKS }, (_, i) => chunkAt(i)));

  it('sends chunked without Content-Length, exact with it, and no body for HEAD or 204', async () => {
    const { port, served } = await start((req, res) => {
      switch (req.url) {
        case '/chunked':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first part, ');
          res.write(Buffer.alloc(3_000, 'x'));
          res.end(', last part');
          return;
        case '/length':
          res.writeHead(200, { 'content-length': 11 });
          res.end('hello world');
          return;
        case '/head':
          res.writeHead(200, { 'content-length': 4 });
          res.end('body');
          return;
        case '/empty':
          res.writeHead(204, { 'x-kind': 'nothing' });
          res.end('dropped');
          return;
        default:
          reply(res, 'fallback');
      }
    });
    const agent = keepAliveAgent();

    const chunked = await fetchWith(agent, port, 'GET', '/chunked');
    expect(chunked.status).toBe(200);
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(chunked.headers['content-length']).toBeUndefined();
    expect(chunked.headers.date).toMatch(/ GMT$/);
    expect(chunked.headers.connection).toBe('keep-alive');
    expect(chunked.body.toString()).toBe(`first part, ${'x'.repeat(3_000)}, last part`);

    const exact = await fetchWith(agent, port, 'GET', '/length');
    expect(exact.headers['content-length']).toBe('11');
    expect(exact.headers['transfer-encoding']).toBeUndefined();
    expect(exact.body.toString()).toBe('hello world');

    const head = await fetchWith(agent, port, 'HEAD', '/head');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('4');
    expect(head.body.length).toBe(0);

    const empty = await fetchWith(agent, port, 'GET', '/empty');
    expect(empty.status).toBe(204);
    expect(empty.headers['x-kind']).toBe('nothing');
    expect(empty.headers['transfer-encoding']).toBeUndefined();
    expect(empty.body.length).toBe(0);

    // No stray body byte of the HEAD or 204 answer is left on the connection for this one.
    const after = await fetchWith(agent, port, 'GET', '/after');
    expect(after.body.toString()).toBe('fallback');

    expect(served.every((s) => s.lean)).toBe(true);
    expect(new Set(served.map((s) => s.remotePort)).size).toBe(1);
    expect(after.localPort).toBe(served[0]?.remotePort);
  });

  it('puts no byte on the wire after a HEAD, 204 or 304 head', async () => {
    const { port, served } = await start((req, res) => {
      if (req.url === '/304') res.writeHead(304, { etag: '"v1"' });
      else if (req.url === '/204') res.writeHead(204);
      else res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('never sent');
      res.end('nor this');
    });
    const client = await RawClient.open(port);
    client.write(get('/head').replace('GET', 'HEAD') + get('/204') + get('/304') + get('/chunked'));
    const head = await client.response('HEAD');
    expect(head.headers['transfer-encoding']).toBeUndefined();
    expect(head.body.length).toBe(0);
    expect((await client.response()).status).toBe(204);
    const notModified = await client.response();
    expect(notModified.status).toBe(304);
    expect(notModified.headers.etag).toBe('"v1"');
    const chunked = await client.response();
    expect(chunked.headers['transfer-encoding']).toBe('chunked');
    expect(chunked.body.toString()).toBe('never sentnor this');
    await delay(50);
    expect(client.unread.length).toBe(0);
    expect(served.every((s) => s.lean)).toBe(true);
  });

  // Node takes a handler's own Transfer-Encoding: chunked as the framing and adds none of its own.
  it.each([
    ['lean', true],
    ['node', false],
  ])("sends a handler's own Transfer-Encoding: chunked once (%s path)", async (_label, lean) => {
    const { port, served } = await start(
      (_req, res) => {
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        res.end('abc');
      },
      { takesPath: () => lean },
    );
    const client = await RawClient.open(port);
    client.write(get('/te'));
    const text = await client.until(
      () => {
        const received = client.unread.toString('latin1');
        return received.endsWith('\r\n0\r\n\r\n') ? received : undefined;
      },
      'the whole response',
      2_000,
    );
    expect(served[0]?.lean).toBe(lean);
    expect(text.match(/^transfer-encoding:/gim)).toHaveLength(1);
    expect(text).toMatch(/\r\n\r\n3\r\nabc\r\n0\r\n\r\n$/);
  });

  it.each([
    ['chunked', false],
    ['with content-length', true],
  ])(
    'delivers 8 MiB written in 64 KiB writes, waiting for drain when write() returns false (%s)',
    async (_label, withLength) => {
      let sawBackpressure = false;
      const { port, served } = await start((_req, res) => {
        res.writeHead(200, withLength ? { 'content-length': large.length } : {});
        let i = 0;
        const pump = (): void => {
          while (i < CHUNKS) {
            if (!res.write(chunkAt(i++))) {
              sawBackpressure = true;
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      });
      const fetched = await fetchWith(keepAliveAgent(), port, 'GET', '/large', 8_000);
      expect(fetched.headers['transfer-encoding']).toBe(withLength ? undefined : 'chunked');
      expect(fetched.body.length).toBe(large.length);
      expect(sha256(fetched.body)).toBe(sha256(large));
      expect(sawBackpressure).toBe(true);
      expect(served[0]?.lean).toBe(true);
    },
  );

  // A 'drain' listener added once, before writing (as stream.pipe() does), must be called at
  // every drain. Node's ServerResponse does so; the 'node' row shows the test itself is sound.
  it.each([
    ['lean', true],
    ['node', false],
  ])(
    'calls a drain listener added before the writes after each full buffer (%s path)',
    async (_label, lean) => {
      const { port, served } = await start(
        (_req, res) => {
          const count = 32; // 2 MiB
          let i = 0;
          const pump = (): void => {
            while (i < count) {
              if (!res.write(chunkAt(i++))) return;
            }
            res.end();
          };
          res.on('drain', pump);
          res.writeHead(200, { 'content-length': count * CHUNK });
          pump();
        },
        { takesPath: () => lean },
      );
      const fetched = await fetchWith(keepAliveAgent(), port, 'GET', '/pumped', 4_000);
      expect(served[0]?.lean).toBe(lean);
      expect(fetched.body.length).toBe(32 * CHUNK);
      expect(sha256(fetched.body)).toBe(sha256(large.subarray(0, 32 * CHUNK)));
    },
  );
});

describe('Connection: close', TEST_TIMEOUT, () => {
  it('answers with connection: close, then the server closes the connection', async () => {
    const { port, served, ingress } = await start(echo);
    const client = await RawClient.open(port);
    client.write(get('/bye', 'Connection: close\r\n'));
    const response = await client.response();
    expect(response.body.toString()).toBe('GET /bye');
    expect(response.headers.connection).toBe('close');
    expect(response.headers['keep-alive']).toBeUndefined();
    await client.until(
      () => (client.ended ? true : undefined),
      'the server to end its side',
      2_000,
    );
    await client.closing(2_000);
    expect(served).toEqual([expect.objectContaining({ url: '/bye', lean: true })]);
    await waitUntil(() => ingress.connections === 0, 'no lean connection left', 1_000);
  });

  it('answers connection: close when the handler asks for it, and closes', async () => {
    const { port, served } = await start((_req, res) => {
      res.writeHead(200, { connection: 'close', 'content-length': 2 });
      res.end('ok');
    });
    const client = await RawClient.open(port);
    client.write(get('/handler-closes'));
    const response = await client.response();
    expect(response.headers.connection).toBe('close');
    await client.closing(2_000);
    expect(served[0]?.lean).toBe(true);
  });

  // Node's server destroys the socket once a Connection: close response left (destroySoon); a
  // client that keeps its side open must not keep the connection, nor have what it sends buffered.
  it.each([
    ['lean', true],
    ['node', false],
  ])(
    'closes the connection even when the client keeps its side open and sends on (%s path)',
    async (_label, lean) => {
      const { port, server, served } = await start(echo, { takesPath: () => lean });
      const client = await RawClient.open(port, true);
      client.write(get('/bye', 'Connection: close\r\n'));
      const response = await client.response();
      expect(response.headers.connection).toBe('close');
      expect(served[0]?.lean).toBe(lean);
      const sending = setInterval(() => {
        if (!client.socket.destroyed) client.write('x'.repeat(4_096));
      }, 20);
      try {
        await waitUntil(
          async () => (await connectionCount(server)) === 0,
          'the server to close the connection',
          2_000,
        );
      } finally {
        clearInterval(sending);
      }
    },
  );
});

describe('idle lean connections', TEST_TIMEOUT, () => {
  it('closes an idle keep-alive connection after server.keepAliveTimeout', async () => {
    const { port, served, ingress } = await start(echo, { keepAliveTimeout: 300 });
    const client = await RawClient.open(port);
    client.write(get('/once'));
    const response = await client.response();
    expect(response.headers.connection).toBe('keep-alive');
    const answeredAt = performance.now();
    expect(ingress.connections).toBe(1);
    await client.closing(2_500);
    const idleFor = performance.now() - answeredAt;
    expect(idleFor).toBeGreaterThanOrEqual(250);
    expect(served[0]?.lean).toBe(true);
    await waitUntil(() => ingress.connections === 0, 'no lean connection left', 1_000);
  });

  it('does not close a connection that is waiting for its response', async () => {
    const { port } = await start(
      (req, res) => {
        setTimeout(() => {
          echo(req, res);
        }, 1_500);
      },
      { keepAliveTimeout: 300 },
    );
    const client = await RawClient.open(port);
    client.write(get('/slow'));
    const response = await client.response('GET', 3_000);
    expect(response.body.toString()).toBe('GET /slow');
    expect(client.closed).toBe(false);
  });

  it('lets server.close() finish at once with idle lean connections open', async () => {
    const { port, server, ingress } = await start(echo);
    const used = await RawClient.open(port);
    used.write(get('/used'));
    expect((await used.response()).headers.connection).toBe('keep-alive');
    const silent = await RawClient.open(port);
    await waitUntil(() => ingress.connections === 2, 'both connections on the lean path', 1_000);

    const startedAt = performance.now();
    const closed = new Promise<number>((resolve) => {
      server.close(() => {
        resolve(performance.now() - startedAt);
      });
    });
    const within = await Promise.race([closed, delay(1_000).then(() => Infinity)]);
    expect(within).toBeLessThan(1_000);
    await used.closing(1_000);
    await silent.closing(1_000);
    expect(ingress.connections).toBe(0);
  });
});

describe('a client leaving while a lean request is in flight', TEST_TIMEOUT, () => {
  it("emits the response's 'close' with writableFinished false when the client sends FIN", async () => {
    const closes: { writableFinished: boolean; lean: boolean }[] = [];
    let held: ServerResponse | undefined;
    const { port, served, ingress } = await start((_req, res) => {
      held = res;
      res.on('close', () => {
        closes.push({ writableFinished: res.writableFinished, lean: res instanceof LeanResponse });
      });
    });
    const client = await RawClient.open(port);
    client.write(get('/held'));
    await waitUntil(() => held !== undefined, 'the request to reach the handler', 2_000);
    expect(closes).toEqual([]);
    client.socket.end();
    await waitUntil(() => closes.length > 0, "the response's 'close'", 2_000);
    expect(closes).toEqual([{ writableFinished: false, lean: true }]);
    // Answering after the client left neither throws nor sends.
    expect(() => held?.end('too late')).not.toThrow();
    await client.closing(2_000);
    expect(client.unread.length).toBe(0);
    expect(served).toEqual([expect.objectContaining({ lean: true })]);
    await waitUntil(() => ingress.connections === 0, 'no lean connection left', 1_000);
    expect(closes).toHaveLength(1);
  });

  it("emits 'close' with writableFinished true once a response left whole", async () => {
    const closes: boolean[] = [];
    const { port } = await start((req, res) => {
      res.on('close', () => closes.push(res.writableFinished));
      echo(req, res);
    });
    const client = await RawClient.open(port);
    client.write(get('/whole'));
    expect((await client.response()).body.toString()).toBe('GET /whole');
    await waitUntil(() => closes.length > 0, "the response's 'close'", 1_000);
    expect(closes).toEqual([true]);
  });
});

describe('LeanResponse.writeHead refuses what may not be sent, as Node does', TEST_TIMEOUT, () => {
  const cases: [string, OutgoingHttpHeaders][] = [
    ['a value with CRLF', { 'x-a': 'one\r\nx-injected: 1' }],
    ['a value with a bare LF', { 'x-a': 'one\nx-injected: 1' }],
    ['a value with NUL', { 'x-a': 'one\u0000two' }],
    ['an array item with CRLF', { 'x-a': ['fine', 'two\r\nx-injected: 1'] }],
    ['a Content-Length with CRLF', { 'content-length': '2\r\nx-injected: 1' }],
    ['a name with a space', { 'bad name': 'v' }],
    ['a name with a colon and CRLF', { 'x-injected: 1\r\nx-a': 'v' }],
    ['an empty name', { '': 'v' }],
    ['a name with a non-ASCII letter', { 'x-\u00e9': 'v' }],
  ];

  /** A server whose handler tries `headers`, records what happened, then answers 200 "ok". */
  async function tryHeaders(headers: OutgoingHttpHeaders, lean: boolean) {
    const outcome: { error?: unknown; headersSentAfter?: boolean } = {};
    const { port, served } = await start(
      (_req, res) => {
        try {
          res.writeHead(200, headers);
        } catch (error) {
          outcome.error = error;
        }
        outcome.headersSentAfter = res.headersSent;
        if (!res.headersSent) res.writeHead(200, { 'content-length': 2 });
        res.end('ok');
      },
      { takesPath: () => lean },
    );
    const client = await RawClient.open(port);
    client.write(get('/headers'));
    const response = await client.response();
    expect(served[0]?.lean).toBe(lean);
    return { outcome, response };
  }

  describe.each([
    ['lean', true],
    ['node', false],
  ])('%s path', (_label, lean) => {
    it.each(cases)('throws a TypeError on %s and sends nothing of it', async (_name, headers) => {
      const { outcome, response } = await tryHeaders(headers, lean);
      expect(outcome.error).toBeInstanceOf(TypeError);
      expect(outcome.headersSentAfter).toBe(false);
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('ok');
      expect(response.headers['x-injected']).toBeUndefined();
      expect(response.headers['x-a']).toBeUndefined();
    });

    it('throws a RangeError on a status code outside 100-999', async () => {
      const errors: unknown[] = [];
      const { port, served } = await start(
        (_req, res) => {
          for (const status of [99, 1000]) {
            try {
              res.writeHead(status, { 'content-length': 0 });
            } catch (error) {
              errors.push(error);
            }
          }
          if (res.headersSent) res.end();
          else reply(res, 'ok');
        },
        { takesPath: () => lean },
      );
      const client = await RawClient.open(port);
      client.write(get('/status'));
      await waitUntil(() => served.length === 1, 'the request to reach the handler', 2_000);
      expect(served[0]?.lean).toBe(lean);
      expect(errors).toHaveLength(2);
      for (const error of errors) expect(error).toBeInstanceOf(RangeError);
      expect((await client.response()).status).toBe(200);
    });

    it('throws a TypeError on a Connection value with CRLF', async () => {
      const { outcome, response } = await tryHeaders(
        { connection: 'close\r\nx-injected: 1' },
        lean,
      );
      expect(response.headers['x-injected']).toBeUndefined();
      expect(outcome.error).toBeInstanceOf(TypeError);
    });
  });

  it('throws on a bad header given to setHeader at once, as Node does', async () => {
    const errors: unknown[] = [];
    let lean = false;
    const { port } = await start((_req, res) => {
      lean = res instanceof LeanResponse;
      try {
        res.setHeader('x-a', 'one\r\nx-injected: 1');
      } catch (error) {
        errors.push(error);
      }
      try {
        res.setHeader('bad name', 'x');
      } catch (error) {
        errors.push(error);
      }
      res.setHeader('x-a', 'fine');
      res.writeHead(200, { 'content-length': 2 });
      res.end('ok');
    });
    const client = await RawClient.open(port);
    client.write(get('/set'));
    const response = await client.response();
    expect(lean).toBe(true);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(errors[1]).toBeInstanceOf(TypeError);
    expect(response.headers['x-a']).toBe('fine');
    expect(response.headers['x-injected']).toBeUndefined();
  });
});
