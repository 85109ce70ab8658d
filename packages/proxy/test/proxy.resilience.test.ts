import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProxyObserver, UpstreamAttempt } from '../src/proxy-observer.js';
import {
  echoUpstream,
  send,
  startProxy,
  startUpstream,
  type TestUpstream,
  waitFor,
} from './proxy.helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function track<T extends { close(): Promise<void> }>(resource: Promise<T>): Promise<T> {
  const value = await resource;
  cleanup.push(() => value.close());
  return value;
}

async function proxyFor(options: Parameters<typeof startProxy>[0]): Promise<string> {
  const { proxy, url } = await startProxy(options);
  cleanup.push(() => proxy.close());
  return url;
}

/** An upstream whose answers can be switched between 200 and 503. */
async function switchable(name: string): Promise<TestUpstream & { failing: boolean }> {
  const state = { failing: false };
  const upstream = await track(
    startUpstream((_req, res) => {
      res.writeHead(state.failing ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(name);
    }),
  );
  return Object.defineProperty(upstream, 'failing', {
    get: () => state.failing,
    set: (value: boolean) => {
      state.failing = value;
    },
  }) as TestUpstream & { failing: boolean };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

function recorder(): ProxyObserver & { attempts: UpstreamAttempt[]; retries: string[] } {
  const attempts: UpstreamAttempt[] = [];
  const retries: string[] = [];
  return {
    attempts,
    retries,
    requestStarted() {},
    requestFinished() {},
    upstreamAttempt(attempt) {
      attempts.push(attempt);
    },
    retried(upstream) {
      retries.push(upstream);
    },
    retryBudgetExhausted() {},
    rateLimited() {},
    backpressureRejected() {},
  };
}

describe('circuit breaker', () => {
  it('opens after the threshold, sends nothing to the upstream while open, and recovers', async () => {
    const good = await switchable('good');
    const bad = await switchable('bad');
    bad.failing = true;
    const { proxy, url } = await startProxy({
      upstreams: [good.url, bad.url],
      circuitBreakerFailureThreshold: 2,
      circuitBreakerOpenMs: 2_000,
      retryMaxAttempts: 1,
    });
    cleanup.push(() => proxy.close());
    const openedAt = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(`${url}/`)).status);
    expect(statuses).toEqual([200, 503, 200, 503]); // round robin; the second failure opens it
    expect(bad.requests).toBe(2);
    for (let i = 0; i < 10; i++) {
      expect((await send(`${url}/`)).status).toBe(200);
    }
    if (Date.now() - openedAt < 1_900) {
      expect(bad.requests).toBe(2); // open: skipped by the balancer
      expect(proxy.status.upstreams().map((u) => u.breaker)).toEqual(['closed', 'open']);
    }

    bad.failing = false;
    // Once the open period ends, a probe request reaches it; it succeeds and closes the breaker.
    const deadline = Date.now() + 10_000;
    while (bad.requests === 2 && Date.now() < deadline) {
      expect((await send(`${url}/`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(2_000);
    const before = bad.requests;
    for (let i = 0; i < 10; i++) expect((await send(`${url}/`)).status).toBe(200);
    expect(bad.requests - before).toBe(5); // round robin over both again
    expect(proxy.status.upstreams().map((u) => u.breaker)).toEqual(['closed', 'closed']);
  });
});

describe('circuit breaker, every upstream open', () => {
  it('answers 503 without calling any upstream while every breaker is open', async () => {
    const a = await switchable('a');
    const b = await switchable('b');
    a.failing = true;
    b.failing = true;
    const { proxy, url } = await startProxy({
      upstreams: [a.url, b.url],
      circuitBreakerFailureThreshold: 1,
      circuitBreakerOpenMs: 60_000,
      retryMaxAttempts: 1,
    });
    cleanup.push(() => proxy.close());
    expect((await send(`${url}/`)).status).toBe(503);
    expect((await send(`${url}/`)).status).toBe(503);
    expect(proxy.status.upstreams().map((u) => u.breaker)).toEqual(['open', 'open']);
    for (let i = 0; i < 5; i++) expect((await send(`${url}/`)).status).toBe(503);
    expect([a.requests, b.requests]).toEqual([1, 1]); // refused by the breakers, never sent
  });
});

describe('retries', () => {
  it('retries a GET onto the healthy upstream, never a POST once sent', async () => {
    const good = await track(echoUpstream('good'));
    const bad = await switchable('bad');
    bad.failing = true;
    const observer = recorder();
    const url = await proxyFor({
      upstreams: [good.url, bad.url],
      circuitBreaker: false,
      retryMaxAttempts: 3,
      retryBackoffBaseMs: 1,
      retryBackoffMaxMs: 5,
      exposeDebugHeaders: true,
      observers: [observer],
    });
    const gets = [];
    for (let i = 0; i < 4; i++) gets.push(await send(`${url}/get`));
    expect(gets.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(gets.map((r) => r.headers['x-proxykit-upstream'])).toEqual([
      good.url,
      good.url,
      good.url,
      good.url,
    ]);
    // A GET that met the failing upstream first was retried once, on the other one.
    const retried = gets.filter((r) => r.headers['x-proxykit-attempts'] === '2').length;
    expect(gets.every((r) => ['1', '2'].includes(String(r.headers['x-proxykit-attempts'])))).toBe(
      true,
    );
    expect(retried).toBeGreaterThan(0);
    expect(bad.requests).toBe(retried);
    expect(observer.retries).toEqual(Array.from({ length: retried }, () => bad.url));

    const posts = [];
    for (let i = 0; i < 4; i++)
      posts.push(await send(`${url}/post`, { method: 'POST', body: 'x' }));
    const refused = posts.filter((r) => r.status === 503).length;
    expect(refused).toBeGreaterThan(0);
    expect(posts.filter((r) => r.status === 200).length).toBe(4 - refused);
    expect(bad.requests).toBe(retried + refused); // each POST reached at most one upstream
    expect(observer.retries).toHaveLength(retried); // and none was retried
  });

  it('retries a GET whose connection was reset before headers; a POST gets 502', async () => {
    const good = await track(echoUpstream('good'));
    const resetting = await track(
      startUpstream((req) => {
        req.socket.destroy();
      }),
    );
    const url = await proxyFor({
      upstreams: [resetting.url, good.url],
      circuitBreaker: false,
      retryBackoffBaseMs: 1,
      retryBackoffMaxMs: 5,
    });
    // Each GET meets the reset first (round robin), then is retried on the other upstream.
    expect((await send(`${url}/a`)).status).toBe(200);
    expect((await send(`${url}/b`)).status).toBe(200);
    expect(resetting.requests).toBe(2);
    expect(good.requests).toBe(2);
    const post = await send(`${url}/c`, { method: 'POST', body: 'once' });
    expect(post.status).toBe(502);
    expect(post.body).toBe('Bad Gateway\n');
    expect(resetting.requests).toBe(3);
    expect(good.requests).toBe(2);
  });
});

describe('backpressure', () => {
  it('answers 503 with Retry-After beyond maxInFlight and never lets more reach the upstream', async () => {
    const held: ServerResponse[] = [];
    let inFlight = 0;
    let maxSeen = 0;
    const upstream = await track(
      startUpstream((_req, res) => {
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        res.on('close', () => inFlight--);
        if (held.length < 3) held.push(res);
        else res.end('at once');
      }),
    );
    const url = await proxyFor({ upstreams: [upstream.url], maxInFlight: 3 });
    const admitted = [1, 2, 3].map(() => send(`${url}/slow`));
    await waitFor(() => held.length === 3);
    const refused = await Promise.all(Array.from({ length: 7 }, () => send(`${url}/more`)));
    for (const response of refused) {
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
    }
    for (const res of held) res.end('done');
    for (const response of await Promise.all(admitted)) expect(response.status).toBe(200);
    expect(upstream.requests).toBe(3);
    expect(maxSeen).toBe(3);
    await waitFor(() => inFlight === 0);
    expect((await send(`${url}/again`)).status).toBe(200); // slots were released
  });

  it('reports as in flight every admitted request, also one waiting to retry', async () => {
    const held: ServerResponse[] = [];
    const slow = await track(
      startUpstream((_req, res) => {
        held.push(res);
      }),
    );
    const url = await proxyFor({
      upstreams: [slow.url],
      maxInFlight: 10,
      requestTimeoutMs: 30_000,
    });
    const gauges = async (): Promise<{ total: number; atUpstream: number }> => {
      const text = (await send(`${url}/metrics`)).body;
      const read = (pattern: RegExp): number => Number(pattern.exec(text)?.[1]);
      return {
        total: read(/^in_flight_requests (\d+)$/m),
        atUpstream: read(/^upstream_in_flight\{[^}]*\} (\d+)$/m),
      };
    };
    const admitted = [1, 2].map(() => send(`${url}/slow`));
    await waitFor(() => held.length === 2);
    expect(await gauges()).toEqual({ total: 2, atUpstream: 2 });
    for (const res of held.splice(0)) res.end('done');
    for (const response of await Promise.all(admitted)) expect(response.status).toBe(200);
    expect(await gauges()).toEqual({ total: 0, atUpstream: 0 });

    // A GET that got a 503 waits (a long backoff) before its retry: admitted, at no upstream.
    const flaky = await switchable('flaky');
    flaky.failing = true;
    const retrying = await proxyFor({
      upstreams: [flaky.url],
      circuitBreaker: false,
      retryMaxAttempts: 2,
      retryBudgetPercent: 100,
      retryBackoffBaseMs: 1_500,
      retryBackoffMaxMs: 1_500,
    });
    const waiting = send(`${retrying}/get`);
    await waitFor(() => flaky.requests === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const text = (await send(`${retrying}/metrics`)).body;
    expect(text).toMatch(/^in_flight_requests 1$/m);
    expect(text).toMatch(/^upstream_in_flight\{[^}]*\} 0$/m);
    flaky.failing = false;
    expect((await waiting).status).toBe(200);
    expect(flaky.requests).toBe(2);
  });
});

describe('rate limit', () => {
  it('answers 429 with Retry-After once a client used its burst', async () => {
    const upstream = await track(echoUpstream('a'));
    const url = await proxyFor({ upstreams: [upstream.url], rateLimitRps: 1, rateLimitBurst: 2 });
    const statuses = [];
    let retryAfter: string | string[] | undefined;
    for (let i = 0; i < 3; i++) {
      const response = await send(`${url}/`);
      statuses.push(response.status);
      retryAfter ??= response.headers['retry-after'];
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(upstream.requests).toBe(2);
  });
});

describe('rate limit shared through Redis', () => {
  it('answers 429 once the client used its burst across two proxies', async () => {
    const port = await closedPort();
    const redis = spawn(
      'redis-server',
      ['--port', String(port), '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    cleanup.push(async () => {
      redis.kill('SIGKILL');
      await once(redis, 'exit');
    });
    const upstream = await track(echoUpstream('a'));
    const options = {
      upstreams: [upstream.url],
      rateLimitRps: 1,
      rateLimitBurst: 1,
      rateLimitRedisUrl: `redis://127.0.0.1:${String(port)}`,
      trustedProxies: ['127.0.0.1/32'],
    };
    const first = await proxyFor(options);
    const second = await proxyFor(options);
    // Until both proxies reach Redis each decides alone; then a client's one token, spent at one
    // proxy, is gone at the other too.
    const deadline = Date.now() + 10_000;
    let refused: Awaited<ReturnType<typeof send>> | undefined;
    for (let i = 0; refused === undefined && Date.now() < deadline; i++) {
      const headers = {
        'x-forwarded-for': `198.51.100.${String(i % 250)}, 10.0.0.${String(i % 250)}`,
      };
      expect((await send(`${first}/`, { headers })).status).toBe(200);
      const other = await send(`${second}/`, { headers });
      if (other.status === 429) refused = other;
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(refused?.status).toBe(429);
    expect(Number(refused?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });
});

describe('timeouts and connect failures', () => {
  it('answers 504 when the upstream does not answer within requestTimeoutMs', async () => {
    const silent = await track(startUpstream(() => undefined));
    const url = await proxyFor({ upstreams: [silent.url], requestTimeoutMs: 300 });
    const response = await send(`${url}/slow`);
    expect(response.status).toBe(504);
    expect(response.body).toBe('Gateway Timeout\n');
  });

  it('answers 502 on connection refused, without internal error text', async () => {
    const port = await closedPort();
    const observer = recorder();
    const url = await proxyFor({
      upstreams: [`http://127.0.0.1:${String(port)}`],
      retryBackoffBaseMs: 1,
      retryBackoffMaxMs: 5,
      // The first active probe of a closed port could mark the only upstream down before the
      // request on a slow machine (then 503, no upstream); this case is about the attempts.
      healthCheck: false,
      observers: [observer],
    });
    const response = await send(`${url}/`);
    expect(response.status).toBe(502);
    expect(response.body).toBe('Bad Gateway\n');
    expect(JSON.stringify(response.headers)).not.toMatch(/ECONNREFUSED|Error/i);
    // Retried (a refused connection never reached the upstream), every attempt failed.
    expect(observer.attempts.length).toBe(3);
    expect(observer.attempts.every((a) => a.failed && a.status === 0)).toBe(true);
  });
});
