import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { echoUpstream, startProxy } from './proxy.helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Writes `raw` on a fresh connection and resolves with everything read until the server closes. */
async function raw(port: number, text: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(text);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

async function setup(): Promise<{ port: number; requests: () => number }> {
  const upstream = await echoUpstream('a');
  cleanup.push(() => upstream.close());
  const { proxy, port } = await startProxy({ upstreams: [upstream.url] });
  cleanup.push(() => proxy.close());
  return { port, requests: () => upstream.requests };
}

describe('ingress', () => {
  it('refuses Content-Length with Transfer-Encoding (smuggling) with 400 and closes', async () => {
    const { port, requests } = await setup();
    const answer = await raw(
      port,
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).not.toContain('/smuggled');
    expect(requests()).toBe(0);
  });

  it('refuses a duplicate Host with 400', async () => {
    const { port, requests } = await setup();
    const answer = await raw(
      port,
      'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(requests()).toBe(0);
  });

  it('answers 431 to oversized headers and 414 to an oversized URI', async () => {
    const { port, requests } = await setup();
    const big = await raw(
      port,
      `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(70_000)}\r\nConnection: close\r\n\r\n`,
    );
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    const long = await raw(
      port,
      `GET /${'u'.repeat(9_000)} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    );
    expect(long).toMatch(/^HTTP\/1\.1 414 /);
    expect(requests()).toBe(0);
  });

  it('does not hang on Expect: 100-continue', async () => {
    const { port, requests } = await setup();
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('100 Continue') && !text.includes('hello')) socket.write('hello');
    });
    socket.write(
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    );
    await once(socket, 'close');
    expect(text).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(text).toContain('"body":"hello"');
    expect(requests()).toBe(1);
  });

  it('answers garbage with 400 and keeps serving', async () => {
    const { port } = await setup();
    expect(await raw(port, 'NOT HTTP AT ALL\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    const ok = await raw(port, 'GET /fine HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(ok).toMatch(/^HTTP\/1\.1 200 /);
  });
});
