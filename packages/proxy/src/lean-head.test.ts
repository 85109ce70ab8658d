import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { fc } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLeanHead } from './lean-head.js';
import { hasRequestBody } from './request-body.js';
import { INGRESS_SERVER_OPTIONS, validateRequestHead } from './request-validation.js';

/** What Node's HTTP server made of one head: the request, or that it refused or upgraded it. */
type NodeView =
  | { readonly kind: 'request'; readonly req: IncomingMessage }
  | { readonly kind: 'refused' | 'upgrade' | 'silent' };

let server: Server;
let port: number;
const waiting = new Map<number, (view: NodeView) => void>();

beforeAll(async () => {
  server = createServer(INGRESS_SERVER_OPTIONS, (req, res) => {
    waiting.get(req.socket.localPort === port ? (req.socket.remotePort ?? 0) : 0)?.({
      kind: 'request',
      req,
    });
    res.end();
  });
  server.on('clientError', (_error, socket) => {
    const remotePort = (socket as { remotePort?: number }).remotePort ?? 0;
    waiting.get(remotePort)?.({ kind: 'refused' });
    socket.destroy();
  });
  server.on('upgrade', (req: IncomingMessage, socket) => {
    waiting.get(req.socket.remotePort ?? 0)?.({ kind: 'upgrade' });
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Sends `head` and a blank line to Node's server and reports what it made of them. */
function nodeView(head: string): Promise<NodeView> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    let settled = false;
    const settle = (view: NodeView): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      waiting.delete(local);
      socket.destroy();
      resolve(view);
    };
    let local = 0;
    const timer = setTimeout(() => {
      settle({ kind: 'silent' });
    }, 500);
    socket.on('connect', () => {
      local = socket.localPort ?? 0;
      waiting.set(local, settle);
      socket.write(Buffer.from(`${head}\r\n\r\n`, 'latin1'));
    });
    socket.on('close', () => {
      setTimeout(() => {
        settle({ kind: 'silent' });
      }, 50);
    });
  });
}

/**
 * Asserts that Node reads `head` exactly as the lean reader did, and would forward it; true when
 * the lean reader took it.
 */
async function expectNodeAgrees(head: string): Promise<boolean> {
  const lean = parseLeanHead(head);
  if (lean === undefined) return false;
  const view = await nodeView(head);
  expect(view.kind, JSON.stringify(head)).toBe('request');
  if (view.kind !== 'request') return false;
  const req = view.req;
  expect(req.method).toBe(lean.method);
  expect(req.url).toBe(lean.url);
  expect(req.httpVersion).toBe('1.1');
  expect({ ...req.headers }).toEqual(lean.headers);
  expect(req.rawHeaders).toEqual(lean.rawHeaders);
  expect(validateRequestHead(req)).toBeUndefined();
  expect(hasRequestBody(req)).toBe(false);
  return true;
}

const TOKEN_CHARS = 'abcxyzABCXYZ0129-_.!#$%&*+^`|~';
const token = fc.string({
  unit: fc.constantFrom(...TOKEN_CHARS.split('')),
  minLength: 1,
  maxLength: 12,
});
const cleanValue = fc.string({
  unit: fc.constantFrom(...'abc XYZ019,;=/"()[]{}?@:-_.~\t'.split('')),
  maxLength: 20,
});
const cleanPath = fc
  .array(
    fc.string({ unit: fc.constantFrom(...'abz09-._~%!$&()*+,;=:@'.split('')), maxLength: 8 }),
    {
      maxLength: 4,
    },
  )
  .chain((segments) =>
    fc
      .option(fc.string({ unit: fc.constantFrom(...'a=&b1%/?'.split('')), maxLength: 10 }))
      .map((query) => `/${segments.join('/')}${query === null ? '' : `?${query}`}`),
  );

/** Characters that put a head off the lean path somewhere, or that Node itself refuses. */
const NOISE = [' ', '\t', '\r', '\n', '\r\n', '\0', '\x01', '\x7f', '\xe9', '#', ':', '?', '/'];
const noisy = (base: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: base },
    {
      weight: 1,
      arbitrary: fc
        .tuple(base, fc.constantFrom(...NOISE), fc.nat({ max: 20 }))
        .map(([text, noise, at]) => text.slice(0, at) + noise + text.slice(at)),
    },
  );

const methods = fc.constantFrom('GET', 'GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST', 'get', 'TRACE');
const versions = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'http/1.1');
const specialNames = fc.constantFrom(
  'Host',
  'host',
  'Content-Length',
  'Transfer-Encoding',
  'Connection',
  'Upgrade',
  'Expect',
  '__proto__',
  'constructor',
  'x y',
  'X-Forwarded-For',
);
const specialValues = fc.constantFrom(
  'example.com',
  'a:8080',
  '[::1]:80',
  '0',
  'chunked',
  'close',
  'keep-alive',
  'Upgrade',
  'websocket',
  '100-continue',
);
const field = fc.tuple(
  noisy(fc.oneof(token, specialNames)),
  fc.constantFrom(': ', ': ', ': ', ':', ':\t', ' : '),
  noisy(fc.oneof(cleanValue, specialValues)),
);

describe('parseLeanHead', () => {
  it('reads only heads Node reads the same way, and would forward as they are', async () => {
    let read = 0;
    await fc.assert(
      fc.asyncProperty(
        methods,
        noisy(cleanPath),
        versions,
        fc.array(field, { maxLength: 3 }),
        fc.nat({ max: 5 }).map((n) => n > 0),
        async (method, path, version, fields, withHost) => {
          const lines = fields.map(([name, separator, value]) => `${name}${separator}${value}`);
          if (withHost) lines.unshift('Host: example.com');
          const head = [`${method} ${path} ${version}`, ...lines].join('\r\n');
          if (await expectNodeAgrees(head)) read++;
        },
      ),
      { numRuns: 600 },
    );
    // The noise must leave enough heads on the lean path for the comparison to mean something.
    expect(read).toBeGreaterThan(40);
  }, 60_000);

  it('reads every clean head, as Node does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'HEAD', 'DELETE', 'OPTIONS'),
        cleanPath,
        fc.uniqueArray(fc.tuple(token, cleanValue), {
          selector: ([name]) => name.toLowerCase(),
          maxLength: 8,
        }),
        async (method, path, fields) => {
          const safe = fields.filter(
            ([name]) =>
              !['host', 'content-length', 'transfer-encoding', 'upgrade', 'expect'].includes(
                name.toLowerCase(),
              ) && !(name.toLowerCase() === 'connection'),
          );
          const head = [
            `${method} ${path} HTTP/1.1`,
            'Host: example.com:8080',
            ...safe.map(([name, value]) => `${name}: ${value}`),
          ].join('\r\n');
          expect(parseLeanHead(head), JSON.stringify(head)).toBeDefined();
          await expectNodeAgrees(head);
        },
      ),
      { numRuns: 150 },
    );
  }, 60_000);

  it('declines what Node must handle: bodies, upgrades, other versions, odd targets', () => {
    const declined = [
      'POST / HTTP/1.1\r\nHost: a',
      'GET / HTTP/1.0\r\nHost: a',
      'GET http://a/ HTTP/1.1\r\nHost: a',
      'OPTIONS * HTTP/1.1\r\nHost: a',
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0',
      'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked',
      'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade',
      'GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue',
      'GET / HTTP/1.1\r\nHost: a\r\nHost: b',
      'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nx: 2',
      'GET / HTTP/1.1\r\nX: 1',
      'GET / HTTP/1.1\r\nHost: a\r\n folded',
      'GET / HTTP/1.1\r\nHost: a\nX: 1',
      'GET / HTTP/1.1\r\nHost: a\r\nX: a\0b',
      'GET /a#b HTTP/1.1\r\nHost: a',
      'GET /a b HTTP/1.1\r\nHost: a',
      'GET / HTTP/1.1\r\nHost: a b',
      'GET / HTTP/1.1\r\nHost : a',
      `GET / HTTP/1.1\r\nHost: a\r\nX: ${'x'.repeat(20_000)}`,
      `GET /${'a'.repeat(9_000)} HTTP/1.1\r\nHost: a`,
    ];
    for (const head of declined) expect(parseLeanHead(head), JSON.stringify(head)).toBeUndefined();
  });

  it('notes Connection: close, and keeps names as sent in rawHeaders', () => {
    const head = parseLeanHead(
      'GET /x?y=1 HTTP/1.1\r\nHost: a:1\r\nConnection: Close\r\nX-Id:\t7 ',
    );
    expect(head).toEqual({
      method: 'GET',
      url: '/x?y=1',
      headers: { host: 'a:1', connection: 'Close', 'x-id': '7' },
      rawHeaders: ['Host', 'a:1', 'Connection', 'Close', 'X-Id', '7'],
      keepAlive: false,
    });
    expect(parseLeanHead('GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive')?.keepAlive).toBe(
      true,
    );
  });
});
