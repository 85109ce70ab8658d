import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { send, startProxy, startUpstream, type TestUpstream, waitFor } from './proxy.helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function tracked(upstream: Promise<TestUpstream>): Promise<TestUpstream> {
  const value = await upstream;
  cleanup.push(() => value.close());
  return value;
}

async function proxyUrl(options: Parameters<typeof startProxy>[0]): Promise<string> {
  const { proxy, url } = await startProxy(options);
  cleanup.push(() => proxy.close());
  return url;
}

/** Counts the body bytes it receives and answers with the count. */
function countingUpstream(): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(String(bytes)));
  });
}

/** A body of `total` bytes made lazily, 64 KiB at a time, as the reader asks for it. */
function lazyBody(total: number): Readable {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const size = Math.min(left, chunk.length);
      left -= size;
      this.push(size === chunk.length ? chunk : chunk.subarray(0, size));
    },
  });
}

describe('request bodies', () => {
  it('streams a 1 GiB body to the upstream with bounded memory', async () => {
    const upstream = await tracked(countingUpstream());
    const url = await proxyUrl({ upstreams: [upstream.url], requestTimeoutMs: 60_000 });
    const total = 1024 * 1024 * 1024;
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    try {
      const response = await send(`${url}/upload`, {
        method: 'POST',
        headers: { 'content-length': String(total) },
        body: lazyBody(total),
      });
      expect(response.status).toBe(200);
      expect(Number(response.body)).toBe(total);
    } finally {
      clearInterval(sampler);
    }
    // Client, proxy and upstream share this process: all three together stay far below the body.
    expect(peak - before).toBeLessThan(200 * 1024 * 1024);
  }, 60_000);

  it('streams a chunked body that crosses the threshold, without losing what was buffered', async () => {
    const upstream = await tracked(countingUpstream());
    const url = await proxyUrl({ upstreams: [upstream.url], streamThresholdBytes: 100_000 });
    const response = await send(`${url}/chunked`, { method: 'POST', body: lazyBody(1_000_000) });
    expect(Number(response.body)).toBe(1_000_000);
  });

  it('refuses a body above the threshold with 413 when streaming is off', async () => {
    const upstream = await tracked(countingUpstream());
    const url = await proxyUrl({
      upstreams: [upstream.url],
      streamLargeBodies: false,
      streamThresholdBytes: 1_000,
    });
    const response = await send(`${url}/big`, { method: 'POST', body: Buffer.alloc(5_000) });
    expect(response.status).toBe(413);
    expect(upstream.requests).toBe(0);
  });

  it('replays a buffered PUT body on retry, and never retries a streamed one', async () => {
    const seen: string[] = [];
    const failing = await tracked(
      startUpstream((_req, res) => {
        res.writeHead(503).end();
      }),
    );
    const good = await tracked(
      startUpstream((req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          seen.push(body);
          res.end('stored');
        });
      }),
    );
    const url = await proxyUrl({
      upstreams: [failing.url, good.url],
      circuitBreaker: false,
      streamThresholdBytes: 1_000,
      retryBackoffBaseMs: 1,
      retryBackoffMaxMs: 5,
    });
    const small = await send(`${url}/small`, { method: 'PUT', body: 'x'.repeat(500) });
    expect(small.status).toBe(200);
    expect(seen).toEqual(['x'.repeat(500)]);
    // Round robin now points at the failing upstream again; the streamed body cannot be replayed.
    const large = await send(`${url}/large`, { method: 'PUT', body: 'y'.repeat(5_000) });
    expect(large.status).toBe(503);
    expect(failing.requests).toBe(2);
    expect(seen).toHaveLength(1);
  });
});

describe('aborts and resets', () => {
  it('cancels the upstream request and releases its socket when the client goes away', async () => {
    const carrying = new Set<Socket>(); // upstream sockets with a request on them, still open
    const upstream = await tracked(
      startUpstream((req) => {
        carrying.add(req.socket); // never answers
        req.socket.on('close', () => carrying.delete(req.socket));
      }),
    );
    const url = await proxyUrl({ upstreams: [upstream.url] });
    const req = httpRequest(`${url}/hang`, { agent: false });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => carrying.size === 1);
    expect(upstream.openSockets()).toBe(1);
    req.destroy();
    await waitFor(() => carrying.size === 0);
    // The socket that carried it is closed. At most one idle connection remains (undici opens a
    // fresh one after an aborted request), carrying nothing.
    expect(upstream.openSockets()).toBeLessThanOrEqual(1);
    expect(upstream.requests).toBe(1);
  });

  it('cancels a streaming upload when the client goes away mid-body', async () => {
    let bytes = 0;
    const carrying = new Set<Socket>();
    const upstream = await tracked(
      startUpstream((req) => {
        carrying.add(req.socket);
        req.socket.on('close', () => carrying.delete(req.socket));
        req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      }),
    );
    const url = await proxyUrl({ upstreams: [upstream.url], streamThresholdBytes: 1_000 });
    const req = httpRequest(`${url}/upload`, {
      agent: false,
      method: 'POST',
      headers: { 'content-length': String(10_000_000) },
    });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(100_000));
    await waitFor(() => bytes >= 100_000);
    expect(carrying.size).toBe(1);
    req.destroy();
    await waitFor(() => carrying.size === 0);
    expect(upstream.openSockets()).toBeLessThanOrEqual(1);
  });

  it('truncates the client response when the upstream resets after headers', async () => {
    const upstream = await tracked(
      startUpstream((_req, res) => {
        res.writeHead(200, { 'content-length': '1000' });
        res.write('x'.repeat(100));
        setTimeout(() => res.socket?.destroy(), 50);
      }),
    );
    const url = await proxyUrl({ upstreams: [upstream.url] });
    const outcome = await new Promise<{ status: number; bytes: number; complete: boolean }>(
      (resolve) => {
        const req = httpRequest(`${url}/partial`, { agent: false }, (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, bytes, complete: true });
          });
          res.on('error', () => {
            resolve({ status: res.statusCode ?? 0, bytes, complete: false });
          });
          res.on('aborted', () => {
            resolve({ status: res.statusCode ?? 0, bytes, complete: false });
          });
        });
        req.on('error', () => {
          resolve({ status: 0, bytes: 0, complete: false });
        });
        req.end();
      },
    );
    expect(outcome.status).toBe(200);
    expect(outcome.complete).toBe(false);
    expect(outcome.bytes).toBe(100);
  });

  it('truncates a chunked response too, rather than ending it cleanly', async () => {
    const upstream = await tracked(
      startUpstream((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        setTimeout(() => res.socket?.destroy(), 50);
      }),
    );
    const url = await proxyUrl({ upstreams: [upstream.url] });
    const complete = await new Promise<boolean>((resolve) => {
      const req = httpRequest(`${url}/chunked`, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          resolve(true);
        });
        res.on('error', () => {
          resolve(false);
        });
        res.on('aborted', () => {
          resolve(false);
        });
      });
      req.on('error', () => {
        resolve(false);
      });
      req.end();
    });
    expect(complete).toBe(false);
  });
});
