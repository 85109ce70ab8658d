import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { hasRequestBody, readRequestBody, type RequestBody } from './request-body.js';

const servers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of servers.splice(0)) await close();
});

/** Sends `chunks` to a server that reads the body with `limits`; resolves with what it made of it. */
async function read(
  chunks: Buffer[],
  limits: { thresholdBytes: number; streamLarge: boolean },
  headers: Record<string, string> = {},
): Promise<{ kind: RequestBody['kind']; bytes: number; announced: boolean }> {
  const server = createServer((req: IncomingMessage, res) => {
    const announced = hasRequestBody(req);
    readRequestBody(req, limits).then(
      async (body) => {
        let bytes = body.kind === 'buffered' ? body.body.length : 0;
        if (body.kind === 'streamed') {
          for await (const chunk of body.body) bytes += (chunk as Buffer).length;
        }
        res.end(JSON.stringify({ kind: body.kind, bytes, announced }));
      },
      () => res.end('{"kind":"error"}'),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = request(
      { port, host: '127.0.0.1', method: 'POST', headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          resolve(JSON.parse(text) as never);
        });
      },
    );
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

const limits = { thresholdBytes: 1_000, streamLarge: true };

describe('readRequestBody', () => {
  it('buffers a body up to the threshold', async () => {
    const data = Buffer.alloc(1_000, 1);
    expect(await read([data], limits, { 'content-length': '1000' })).toEqual({
      kind: 'buffered',
      bytes: 1_000,
      announced: true,
    });
    expect(await read([data.subarray(0, 400), data.subarray(400)], limits)).toEqual({
      kind: 'buffered',
      bytes: 1_000,
      announced: true,
    });
  });

  it('streams a declared body above the threshold without reading it first', async () => {
    expect(await read([Buffer.alloc(5_000)], limits, { 'content-length': '5000' })).toEqual({
      kind: 'streamed',
      bytes: 5_000,
      announced: true,
    });
  });

  it('streams a chunked body once it crosses the threshold, keeping what was read', async () => {
    const parts = Array.from({ length: 10 }, () => Buffer.alloc(300, 2));
    expect(await read(parts, limits)).toEqual({ kind: 'streamed', bytes: 3_000, announced: true });
  });

  it('refuses a large body when streaming is off', async () => {
    const off = { thresholdBytes: 1_000, streamLarge: false };
    expect((await read([Buffer.alloc(2_000)], off, { 'content-length': '2000' })).kind).toBe(
      'too-large',
    );
    expect((await read([Buffer.alloc(800), Buffer.alloc(800)], off)).kind).toBe('too-large');
  });

  it('sees no body in an empty request', async () => {
    expect(await read([], limits, { 'content-length': '0' })).toEqual({
      kind: 'empty',
      bytes: 0,
      announced: false,
    });
  });
});
