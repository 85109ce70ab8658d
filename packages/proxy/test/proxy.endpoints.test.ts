import { once } from 'node:events';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { DemoControl, FinishedRequest, ProxyObserver } from '../src/proxy-observer.js';
import { echoUpstream, send, startProxy, startUpstream, waitFor } from './proxy.helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('answers of the proxy itself', () => {
  it('report the body bytes they sent', async () => {
    const upstream = await echoUpstream('a');
    cleanup.push(() => upstream.close());
    const finished: FinishedRequest[] = [];
    const observer: ProxyObserver = {
      requestStarted() {},
      requestFinished(request) {
        finished.push(request);
      },
      upstreamAttempt() {},
      retried() {},
      retryBudgetExhausted() {},
      rateLimited() {},
      backpressureRejected() {},
    };
    const { proxy, url } = await startProxy({ upstreams: [upstream.url], observers: [observer] });
    cleanup.push(() => proxy.close());
    const ready = await send(`${url}/readyz`);
    const status = await send(`${url}/status.json`);
    const missing = await send(`${url}/status/demo?upstream=x&failing=1`, { method: 'POST' });
    expect(missing.status).toBe(404);
    await waitFor(() => finished.length === 3);
    const bytes = (path: string): number | undefined =>
      finished.find((request) => request.path === path)?.bytesSent;
    expect(bytes('/readyz')).toBe(Buffer.byteLength(ready.body));
    expect(bytes('/status.json')).toBe(Buffer.byteLength(status.body));
    expect(bytes('/status/demo')).toBe(Buffer.byteLength(missing.body));
    expect(Buffer.byteLength(ready.body)).toBeGreaterThan(0);
  });
});

describe('health and readiness', () => {
  it('/healthz is 200 while alive; ?check=upstream is 503 once no upstream is healthy', async () => {
    let healthy = true;
    const upstream = await startUpstream((_req, res) => {
      res.writeHead(healthy ? 200 : 503).end();
    });
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({
      upstreams: [upstream.url],
      healthCheck: true,
      healthCheckIntervalSecs: 0.05,
      healthCheckPath: '/health',
    });
    cleanup.push(() => proxy.close());
    expect((await send(`${url}/healthz`)).status).toBe(200);
    expect((await send(`${url}/healthz?check=upstream`)).status).toBe(200);
    healthy = false;
    await waitFor(() => !proxy.status.upstreams()[0]!.healthy);
    const down = await send(`${url}/healthz?check=upstream`);
    expect(down.status).toBe(503);
    expect((await send(`${url}/healthz`)).status).toBe(200);
    expect((await send(`${url}/anything`)).status).toBe(503); // no upstream to route to
  });

  it('/readyz is 503 until the first health round completes, then 200', async () => {
    const held: ServerResponse[] = [];
    const upstream = await startUpstream((req, res) => {
      if (req.url === '/health' && held.length === 0) held.push(res);
      else res.end('ok');
    });
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({
      upstreams: [upstream.url],
      healthCheck: true,
      healthCheckIntervalSecs: 5,
      healthCheckPath: '/health',
    });
    cleanup.push(() => proxy.close());
    await waitFor(() => held.length === 1); // the first probe is in flight
    const early = await send(`${url}/readyz`);
    expect(early.status).toBe(503);
    expect(proxy.status.ready).toBe(false);
    held[0]!.end('ok');
    await waitFor(() => proxy.status.ready);
    expect((await send(`${url}/readyz`)).status).toBe(200);
  });
});

describe('metrics and status', () => {
  const token = 's3cret-token';

  async function protectedProxy(demo?: DemoControl): Promise<string> {
    const upstream = await echoUpstream('a');
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({
      upstreams: [upstream.url],
      metricsBearerToken: token,
      ...(demo === undefined ? {} : { demo }),
    });
    cleanup.push(() => proxy.close());
    return url;
  }

  it('/metrics needs the bearer token and then renders the request counters', async () => {
    const url = await protectedProxy();
    await send(`${url}/users/123`);
    const refused = await send(`${url}/metrics`);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="proxykit"');
    expect(refused.body).not.toContain('requests_total');
    expect(
      (await send(`${url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status,
    ).toBe(401);
    const metrics = await send(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      /requests_total\{method="GET",path="\/users\/:id",status="200",status_class="2xx"\} 1/,
    );
  });

  it('/status and /status.json follow the same rule and accept ?token=', async () => {
    const url = await protectedProxy();
    expect((await send(`${url}/status`)).status).toBe(401);
    expect((await send(`${url}/status.json`)).status).toBe(401);
    const page = await send(`${url}/status?token=${token}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    const json = await send(`${url}/status.json`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(json.status).toBe(200);
    const report = JSON.parse(json.body) as { upstreams: { name: string }[] };
    expect(report.upstreams).toHaveLength(1);
  });

  it('POST /status/demo switches a demo upstream', async () => {
    const state = new Map([['http://demo-a', false]]);
    const demo: DemoControl = {
      upstreams: () => [...state].map(([name, failing]) => ({ name, failing })),
      setFailing(name, failing) {
        if (!state.has(name)) throw new RangeError(name);
        state.set(name, failing);
      },
    };
    const url = await protectedProxy(demo);
    const target = `${url}/status/demo?upstream=${encodeURIComponent('http://demo-a')}&failing=1`;
    expect((await send(target, { method: 'POST' })).status).toBe(401);
    const done = await send(`${target}&token=${token}`, { method: 'POST' });
    expect(done.status).toBe(200);
    expect(state.get('http://demo-a')).toBe(true);
    expect(
      (await send(`${url}/status/demo?upstream=nope&failing=1&token=${token}`, { method: 'POST' }))
        .status,
    ).toBe(404);
  });
});

describe('lifecycle', () => {
  it('shutdown fails readiness, refuses new connections and lets in-flight requests finish', async () => {
    const held: ServerResponse[] = [];
    const upstream = await startUpstream((_req, res) => held.push(res));
    cleanup.push(() => upstream.close());
    const { proxy, url, port } = await startProxy({ upstreams: [upstream.url] });
    cleanup.push(() => proxy.close());
    const inFlight = send(`${url}/slow`);
    await waitFor(() => held.length === 1);
    const stopped = proxy.shutdown();
    expect(proxy.status.draining).toBe(true);
    expect(proxy.status.ready).toBe(false);
    await waitFor(() => !proxy.server.listening);
    await expect(send(`http://127.0.0.1:${String(port)}/new`)).rejects.toThrow(/ECONNREFUSED/);
    held[0]!.end('finished');
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(response.body).toBe('finished');
    expect(response.headers.connection).toBe('close');
    await stopped;
  });

  it('is disposable with await using semantics', async () => {
    const upstream = await echoUpstream('a');
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({ upstreams: [upstream.url] });
    expect((await send(`${url}/`)).status).toBe(200);
    await proxy[Symbol.asyncDispose]();
    expect(proxy.server.listening).toBe(false);
  });
});

describe('upgrades and endpoint methods', () => {
  it('tunnels a WebSocket to the upstream', async () => {
    const upstream = await startUpstream((_req, res) => res.end('plain'));
    cleanup.push(() => upstream.close());
    const wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (socket, req) => {
      socket.on('message', (data: Buffer) => {
        socket.send(`${String(req.headers['x-forwarded-for'])}:${data.toString('utf8')}`);
      });
    });
    cleanup.push(async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await Promise.resolve();
    });
    const { proxy, url } = await startProxy({ upstreams: [upstream.url] });
    cleanup.push(() => proxy.close());
    const ws = new WebSocket(url.replace('http:', 'ws:') + '/socket');
    await once(ws, 'open');
    ws.send('hello');
    const [message] = (await once(ws, 'message')) as [Buffer];
    expect(message.toString('utf8')).toBe('127.0.0.1:hello');
    ws.close();
    await once(ws, 'close');
  });

  it('close() ends open tunnels at once', async () => {
    const upstream = await startUpstream((_req, res) => res.end('plain'));
    cleanup.push(() => upstream.close());
    const wss = new WebSocketServer({ server: upstream.server });
    cleanup.push(async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await Promise.resolve();
    });
    const { proxy, url } = await startProxy({ upstreams: [upstream.url] });
    const ws = new WebSocket(url.replace('http:', 'ws:') + '/socket');
    await once(ws, 'open');
    const wsClosed = once(ws, 'close');
    await proxy.close();
    await wsClosed;
    expect(ws.readyState).toBe(WebSocket.CLOSED);
  });

  it('refuses upgrades beyond the rate limit (429) and maxInFlight (503) before any upstream contact', async () => {
    const upstream = await startUpstream((_req, res) => res.end('plain'));
    cleanup.push(() => upstream.close());
    const wss = new WebSocketServer({ server: upstream.server });
    let upgrades = 0;
    wss.on('connection', () => {
      upgrades++;
    });
    cleanup.push(async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await Promise.resolve();
    });
    const limited = await startProxy({
      upstreams: [upstream.url],
      rateLimitRps: 1,
      rateLimitBurst: 1,
    });
    cleanup.push(() => limited.proxy.close());
    const first = new WebSocket(limited.url.replace('http:', 'ws:') + '/socket');
    await once(first, 'open');
    const refused = await upgradeAnswer(limited.url);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(upgrades).toBe(1);
    first.close();
    await once(first, 'close');

    const bounded = await startProxy({ upstreams: [upstream.url], maxInFlight: 1 });
    cleanup.push(() => bounded.proxy.close());
    const holder = new WebSocket(bounded.url.replace('http:', 'ws:') + '/socket');
    await once(holder, 'open');
    const full = await upgradeAnswer(bounded.url);
    expect(full.status).toBe(503);
    expect(full.retryAfter).toBeDefined();
    expect(upgrades).toBe(2);
    // The tunnel held its slot for its life; once it closes, the next upgrade goes through.
    holder.close();
    await once(holder, 'close');
    await waitFor(() => bounded.proxy.status.upstreams()[0]?.inFlight === 0);
    const next = new WebSocket(bounded.url.replace('http:', 'ws:') + '/socket');
    await once(next, 'open');
    expect(upgrades).toBe(3);
    next.close();
    await once(next, 'close');
  });

  it('answers 405 for a non-GET request to the endpoints and forwards nothing', async () => {
    const upstream = await echoUpstream('a');
    cleanup.push(() => upstream.close());
    const { proxy, url } = await startProxy({ upstreams: [upstream.url] });
    cleanup.push(() => proxy.close());
    const response = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${url}/healthz`, { method: 'DELETE', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(response).toBe(405);
    expect(upstream.requests).toBe(0);
  });
});

/** Sends a WebSocket upgrade request and resolves with the (non-101) answer's status. */
function upgradeAnswer(url: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${url}/socket`, {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('response', (res) => {
      res.resume();
      const retryAfter = res.headers['retry-after'];
      resolve({ status: res.statusCode ?? 0, retryAfter });
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      reject(new Error('the upgrade was accepted'));
    });
    req.on('error', reject);
    req.end();
  });
}
