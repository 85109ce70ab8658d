import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  clientErrorResponse,
  INGRESS_SERVER_OPTIONS,
  MAX_HEADER_COUNT,
  MAX_URI_LENGTH,
  validateRequestHead,
} from './request-validation.js';

function head(
  rawHeaders: string[],
  options: { url?: string; version?: '1.0' | '1.1'; socket?: object } = {},
): IncomingMessage {
  const [major, minor] = (options.version ?? '1.1').split('.').map(Number);
  return {
    socket: options.socket ?? {},
    url: options.url ?? '/',
    rawHeaders,
    httpVersionMajor: major,
    httpVersionMinor: minor,
  } as unknown as IncomingMessage;
}

describe('validateRequestHead', () => {
  it('lets a plain request through', () => {
    expect(validateRequestHead(head(['Host', 'example.com']))).toBeUndefined();
    expect(
      validateRequestHead(head(['Host', '[2001:db8::1]:8080', 'Content-Length', '12', 'X-A', 'b'])),
    ).toBeUndefined();
    expect(
      validateRequestHead(head(['host', 'a', 'Transfer-Encoding', 'Chunked'])),
    ).toBeUndefined();
  });

  it.each([
    ['missing Host on HTTP/1.1', [], '1.1', 'missing Host header'],
    ['two Host headers', ['Host', 'a', 'host', 'b'], '1.1', 'more than one Host header'],
    ['an invalid Host', ['Host', 'a b'], '1.1', 'invalid Host header'],
    ['a Host with a path', ['Host', 'a/b'], '1.1', 'invalid Host header'],
    ['CR in a value', ['Host', 'a', 'X-A', 'b\rc'], '1.1', 'CR, LF or NUL in a header value'],
    ['LF in a value', ['Host', 'a', 'X-A', 'b\nX-B: c'], '1.1', 'CR, LF or NUL in a header value'],
    ['NUL in a value', ['Host', 'a', 'X-A', 'b\u0000'], '1.1', 'CR, LF or NUL in a header value'],
    [
      'Content-Length with Transfer-Encoding',
      ['Host', 'a', 'Content-Length', '3', 'Transfer-Encoding', 'chunked'],
      '1.1',
      'both Content-Length and Transfer-Encoding',
    ],
    [
      'two Content-Length headers, even equal',
      ['Host', 'a', 'Content-Length', '3', 'Content-Length', '3'],
      '1.1',
      'more than one Content-Length',
    ],
    [
      'a Content-Length list',
      ['Host', 'a', 'Content-Length', '3, 3'],
      '1.1',
      'invalid Content-Length',
    ],
    [
      'a signed Content-Length',
      ['Host', 'a', 'Content-Length', '+3'],
      '1.1',
      'invalid Content-Length',
    ],
    [
      'a huge Content-Length',
      ['Host', 'a', 'Content-Length', '9'.repeat(20)],
      '1.1',
      'invalid Content-Length',
    ],
    [
      'chunked not last',
      ['Host', 'a', 'Transfer-Encoding', 'chunked, gzip'],
      '1.1',
      'Transfer-Encoding other than chunked',
    ],
    [
      'a coding before chunked (it would be dropped)',
      ['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'],
      '1.1',
      'Transfer-Encoding other than chunked',
    ],
    [
      'chunked twice over two lines',
      ['Host', 'a', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'],
      '1.1',
      'Transfer-Encoding other than chunked',
    ],
    [
      'identity',
      ['Host', 'a', 'Transfer-Encoding', 'identity'],
      '1.1',
      'Transfer-Encoding other than chunked',
    ],
    [
      'Transfer-Encoding on HTTP/1.0',
      ['Host', 'a', 'Transfer-Encoding', 'chunked'],
      '1.0',
      'Transfer-Encoding on HTTP/1.0',
    ],
  ] as const)('refuses %s with 400', (_what, raw, version, reason) => {
    expect(validateRequestHead(head([...raw], { version }))).toEqual({ status: 400, reason });
  });

  it('accepts HTTP/1.0 without Host (old health checkers), but not with two', () => {
    expect(validateRequestHead(head([], { version: '1.0' }))).toBeUndefined();
    expect(validateRequestHead(head(['Host', 'a', 'Host', 'a'], { version: '1.0' }))?.status).toBe(
      400,
    );
  });

  it('accepts origin-form and http(s) absolute-form targets (RFC 9112 §3.2.2)', () => {
    for (const url of [
      '/',
      '/a?b',
      'http://other.example/',
      'HTTPS://other.example:8443/a?b',
      'http://[::1]:80',
      'http://10.0.0.1?q',
    ]) {
      expect(validateRequestHead(head(['Host', 'a'], { url }))).toBeUndefined();
    }
  });

  it('refuses any other request target', () => {
    for (const url of [
      '*',
      'example.com:443',
      '',
      'ftp://other.example/',
      'http:/other.example/',
      'http://',
      'http://:80/',
      'http://user@other.example/',
      'http://bad host/',
      'http://other.example:123456/',
    ]) {
      expect(validateRequestHead(head(['Host', 'a'], { url }))).toEqual({
        status: 400,
        reason: 'request target is neither origin-form nor http(s) absolute-form',
      });
    }
  });

  it('refuses a fragment in either form', () => {
    for (const url of ['/a#b', '/#', 'http://other.example/#top']) {
      expect(validateRequestHead(head(['Host', 'a'], { url }))).toEqual({
        status: 400,
        reason: 'a fragment (#) in the request target',
      });
    }
  });

  it('still requires Host with an absolute-form target on HTTP/1.1', () => {
    expect(validateRequestHead(head([], { url: 'http://a/' }))?.status).toBe(400);
  });

  it(`answers 414 above ${MAX_URI_LENGTH} bytes of URI`, () => {
    const at = `/${'a'.repeat(MAX_URI_LENGTH - 1)}`;
    expect(validateRequestHead(head(['Host', 'a'], { url: at }))).toBeUndefined();
    expect(validateRequestHead(head(['Host', 'a'], { url: `${at}b` }))?.status).toBe(414);
  });

  it(`answers 431 above ${MAX_HEADER_COUNT} header fields`, () => {
    const raw = ['Host', 'a'];
    for (let i = 1; i < MAX_HEADER_COUNT; i++) raw.push(`X-${i}`, 'v');
    expect(validateRequestHead(head(raw))).toBeUndefined();
    raw.push('X-last', 'v');
    expect(validateRequestHead(head(raw))?.status).toBe(431);
  });
});

describe('a refused connection', () => {
  it('has every later request refused, while other connections go on', () => {
    const socket = {};
    expect(validateRequestHead(head(['Host', 'a', 'Host', 'b'], { socket }))?.status).toBe(400);
    expect(validateRequestHead(head(['Host', 'a'], { socket }))).toEqual({
      status: 400,
      reason: 'request after a refused one on the same connection',
    });
    expect(validateRequestHead(head(['Host', 'a'], { socket: {} }))).toBeUndefined();
  });
});

describe('clientErrorResponse', () => {
  it('answers as Node does by default, always closing', () => {
    expect(
      clientErrorResponse(Object.assign(new Error('x'), { code: 'HPE_HEADER_OVERFLOW' })),
    ).toBe(
      'HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n',
    );
    expect(clientErrorResponse({ code: 'ERR_HTTP_REQUEST_TIMEOUT' })).toMatch(/^HTTP\/1\.1 408 /);
    expect(clientErrorResponse({ code: 'HPE_CHUNK_EXTENSIONS_OVERFLOW' })).toMatch(
      /^HTTP\/1\.1 413 /,
    );
    expect(clientErrorResponse(new Error('HPE_INVALID_HEADER_TOKEN'))).toMatch(/^HTTP\/1\.1 400 /);
    expect(clientErrorResponse(undefined)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });
});

describe('with a real server using INGRESS_SERVER_OPTIONS', () => {
  /** Sends raw bytes and returns the status line of the answer and whether the server closed. */
  async function exchange(raw: string): Promise<{ status: string; handled: number }> {
    let handled = 0;
    const server = createServer(INGRESS_SERVER_OPTIONS, (req, res) => {
      const rejection = validateRequestHead(req);
      if (rejection !== undefined) {
        res.writeHead(rejection.status, { connection: 'close' }).end();
        return;
      }
      handled++;
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('error', () => undefined);
      socket.end(raw);
      await once(socket, 'close');
      return { status: data.split('\r\n')[0] ?? '', handled };
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }

  it.each([
    ['duplicate Host', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', '400'],
    [
      'gzip, chunked',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
      '400',
    ],
    [
      'TE on HTTP/1.0',
      'POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      '400',
    ],
    ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n', '400'],
    ['absolute-form with user information', 'GET http://u@x/ HTTP/1.1\r\nHost: a\r\n\r\n', '400'],
    [
      'missing Host, then a pipelined request',
      'GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
      '400',
    ],
    [
      'gzip, chunked, then a pipelined request',
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
      '400',
    ],
    ['a long URI', `GET /${'a'.repeat(MAX_URI_LENGTH)} HTTP/1.1\r\nHost: a\r\n\r\n`, '414'],
    [
      'too many headers',
      `GET / HTTP/1.1\r\nHost: a\r\n${'X-A: b\r\n'.repeat(MAX_HEADER_COUNT)}\r\n`,
      '431',
    ],
    ['oversized headers', `GET / HTTP/1.1\r\nHost: a\r\nX-A: ${'b'.repeat(20_000)}\r\n\r\n`, '431'],
    [
      'CL with TE',
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      '400',
    ],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n', '400'],
  ])('%s → %s, never handled', async (_what, raw, status) => {
    const result = await exchange(raw);
    expect(result.status).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(result.handled).toBe(0);
  });

  it('handles a good request', async () => {
    expect(await exchange('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')).toEqual({
      status: 'HTTP/1.1 200 OK',
      handled: 1,
    });
  });
});

describe('a server answering client errors with clientErrorResponse', () => {
  it.each([
    ['a head that never ends', ['GET / HTTP/1.1\r\n', 'Host: a\r\n'], '408'],
    [
      'a body that never ends',
      ['POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n', 'part'],
      '408',
    ],
    [
      'an oversized head',
      [`GET / HTTP/1.1\r\nHost: a\r\nX-A: ${'b'.repeat(20_000)}\r\n\r\n`],
      '431',
    ],
    ['garbage', ['NOT HTTP\r\n\r\n'], '400'],
  ])('%s → %s and the connection closed', async (_what, pieces, status) => {
    const server = createServer(INGRESS_SERVER_OPTIONS, (req) => {
      // A handler that waits for the whole body, as a buffering proxy does.
      req.resume();
    });
    server.on('clientError', (error, socket) => {
      if (socket.writable) socket.end(clientErrorResponse(error));
      else socket.destroy();
    });
    server.headersTimeout = 500;
    server.requestTimeout = 1_000;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('error', () => undefined);
      for (const piece of pieces) socket.write(piece);
      await once(socket, 'close');
      expect(data).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(data).toMatch(/\r\nconnection: close\r\n/);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
