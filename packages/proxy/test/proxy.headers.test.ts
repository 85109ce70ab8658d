import type { IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { echoUpstream, send, startProxy, startUpstream } from './proxy.helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

interface Echo {
  readonly headers: IncomingHttpHeaders;
  readonly url: string;
}

async function echoProxy(
  options: Omit<Parameters<typeof startProxy>[0], 'upstreams'> = {},
): Promise<{ url: string; port: number; upstreamUrl: string; upstreamPort: number }> {
  const upstream = await echoUpstream('echo');
  cleanup.push(() => upstream.close());
  const { proxy, url, port } = await startProxy({ upstreams: [upstream.url], ...options });
  cleanup.push(() => proxy.close());
  return { url, port, upstreamUrl: upstream.url, upstreamPort: upstream.port };
}

describe('hop-by-hop headers', () => {
  it('never reach the upstream, including names listed in Connection', async () => {
    const { url } = await echoProxy();
    const response = await send(`${url}/h`, {
      headers: {
        connection: 'close, x-secret, X-Other',
        'x-secret': 'hop',
        'x-other': 'hop',
        'keep-alive': 'timeout=99',
        te: 'trailers',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        'proxy-connection': 'keep-alive',
        'x-end-to-end': 'kept',
      },
    });
    expect(response.status).toBe(200);
    const seen = (JSON.parse(response.body) as Echo).headers;
    for (const name of [
      'x-secret',
      'x-other',
      'keep-alive',
      'te',
      'trailer',
      'proxy-authorization',
      'proxy-connection',
    ]) {
      expect(seen[name], name).toBeUndefined();
    }
    expect(seen.connection).not.toMatch(/x-secret|x-other/i);
    expect(seen['x-end-to-end']).toBe('kept');
  });

  it('never reach the client from the upstream response', async () => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, {
        connection: 'x-internal',
        'x-internal': 'secret',
        'keep-alive': 'timeout=99',
        'proxy-authenticate': 'Basic',
        trailer: 'x-checksum',
        'x-public': 'yes',
      });
      res.end('ok');
    });
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({ upstreams: [upstream.url] });
    cleanup.push(() => proxy.close());
    const response = await send(`${url}/`);
    expect(response.status).toBe(200);
    expect(response.body).toBe('ok');
    expect(response.headers['x-internal']).toBeUndefined();
    expect(response.headers['proxy-authenticate']).toBeUndefined();
    expect(response.headers.trailer).toBeUndefined();
    expect(response.headers['keep-alive']).not.toBe('timeout=99');
    expect(response.headers['x-public']).toBe('yes');
  });

  it('does not merge upstream trailers into the response headers', async () => {
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-checksum' });
      res.write('part');
      res.addTrailers({ 'x-checksum': 'abc' });
      res.end();
    });
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({ upstreams: [upstream.url] });
    cleanup.push(() => proxy.close());
    const response = await send(`${url}/`);
    expect(response.body).toBe('part');
    expect(response.headers['x-checksum']).toBeUndefined();
  });
});

describe('Host and forwarding headers', () => {
  it('rewrites Host to the upstream and keeps the original in X-Forwarded-Host', async () => {
    const { url, upstreamPort } = await echoProxy();
    const response = await send(`${url}/path?q=1`, { headers: { host: 'shop.example:8443' } });
    const echo = JSON.parse(response.body) as Echo;
    expect(echo.headers.host).toBe(`127.0.0.1:${String(upstreamPort)}`);
    expect(echo.headers['x-forwarded-host']).toBe('shop.example:8443');
    expect(echo.headers['x-forwarded-proto']).toBe('http');
    expect(echo.url).toBe('/path?q=1');
  });

  it('ignores X-Forwarded-For and Forwarded from an untrusted peer', async () => {
    const { url } = await echoProxy();
    const response = await send(`${url}/`, {
      headers: {
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=6.6.6.6;proto=https',
      },
    });
    const seen = (JSON.parse(response.body) as Echo).headers;
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).not.toBe('evil.example');
    expect(seen.forwarded).not.toContain('6.6.6.6');
    expect(seen.forwarded).toContain('for=127.0.0.1');
  });

  it('appends to X-Forwarded-For from a trusted peer', async () => {
    const { url } = await echoProxy({ trustedProxies: ['127.0.0.1/32'] });
    const response = await send(`${url}/`, { headers: { 'x-forwarded-for': '203.0.113.7' } });
    const seen = (JSON.parse(response.body) as Echo).headers;
    expect(seen['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
  });

  it('keys the rate limit by the client IP after the trusted-proxy policy', async () => {
    const { url } = await echoProxy({
      trustedProxies: ['127.0.0.1/32'],
      rateLimitRps: 1,
      rateLimitBurst: 1,
    });
    const as = (ip: string) => send(`${url}/`, { headers: { 'x-forwarded-for': ip } });
    expect((await as('203.0.113.1')).status).toBe(200);
    expect((await as('203.0.113.1')).status).toBe(429);
    expect((await as('203.0.113.2')).status).toBe(200); // another client, its own bucket
  });

  it('propagates a W3C traceparent, keeping the trace id and creating one when absent', async () => {
    const { url } = await echoProxy();
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const kept = (
      JSON.parse((await send(`${url}/`, { headers: { traceparent: parent } })).body) as Echo
    ).headers.traceparent;
    expect(kept).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-0[01]$/);
    expect(kept).not.toBe(parent);
    const created = (JSON.parse((await send(`${url}/`)).body) as Echo).headers.traceparent;
    expect(created).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
  });
});

describe('tracestate', () => {
  it('travels with a continued trace and is dropped when a new trace starts', async () => {
    const { url } = await echoProxy();
    const upstreamHeaders = async (headers: Record<string, string>): Promise<IncomingHttpHeaders> =>
      (JSON.parse((await send(`${url}/`, { headers })).body) as Echo).headers;
    const tracestate = 'vendor=opaque,other=1';
    const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect((await upstreamHeaders({ traceparent: valid, tracestate })).tracestate).toBe(tracestate);
    // Upper-case hex is invalid (W3C Trace Context §3.2.2.2): a new trace, without the state.
    const invalid = await upstreamHeaders({ traceparent: valid.toUpperCase(), tracestate });
    expect(invalid.tracestate).toBeUndefined();
    expect(invalid.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(invalid.traceparent?.slice(3, 35)).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect((await upstreamHeaders({ tracestate })).tracestate).toBeUndefined();
  });
});

describe('debug headers', () => {
  it('are absent by default and present when exposeDebugHeaders is on', async () => {
    const off = await echoProxy();
    const plain = await send(`${off.url}/`);
    expect(plain.headers['x-proxykit-upstream']).toBeUndefined();
    expect(plain.headers['x-proxykit-attempts']).toBeUndefined();
    const on = await echoProxy({ exposeDebugHeaders: true });
    const debug = await send(`${on.url}/`);
    expect(debug.headers['x-proxykit-upstream']).toBe(on.upstreamUrl);
    expect(debug.headers['x-proxykit-attempts']).toBe('1');
  });
});

describe('bodiless responses', () => {
  it('sends no body for HEAD, 204 and 304', async () => {
    const upstream = await startUpstream((req, res) => {
      if (req.url === '/204') res.writeHead(204).end();
      else if (req.url === '/304') res.writeHead(304, { etag: '"x"' }).end();
      else
        res
          .writeHead(200, { 'content-length': '5' })
          .end(req.method === 'HEAD' ? undefined : 'hello');
    });
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({ upstreams: [upstream.url] });
    cleanup.push(() => proxy.close());
    const head = await send(`${url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('5');
    expect(head.body).toBe('');
    expect((await send(`${url}/204`)).body).toBe('');
    const notModified = await send(`${url}/304`);
    expect(notModified.status).toBe(304);
    expect(notModified.body).toBe('');
  });
});
