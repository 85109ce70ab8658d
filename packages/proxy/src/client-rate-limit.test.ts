import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createClientRateLimit, retryAfterSeconds } from './client-rate-limit.js';
import { DEFAULT_PROXY_CONFIG, type ProxyConfig } from './proxy-config.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function config(overrides: Partial<ProxyConfig>): ProxyConfig {
  return { ...DEFAULT_PROXY_CONFIG, ...overrides };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

describe('createClientRateLimit', () => {
  it('is off when rateLimitRps is 0', () => {
    expect(createClientRateLimit(config({ rateLimitRps: 0 }))).toBeUndefined();
  });

  it('gives each client IP its own bucket of rateLimitBurst', async () => {
    const limit = createClientRateLimit(config({ rateLimitRps: 1, rateLimitBurst: 3 }))!;
    cleanup.push(() => limit.close());
    expect([1, 2, 3].map(() => limit.admit('10.0.0.1'))).toEqual([0, 0, 0]);
    expect(limit.admit('10.0.0.1')).toBeGreaterThan(0);
    expect(limit.admit('10.0.0.2')).toBe(0);
  });

  it('uses the rate as the burst when rateLimitBurst is 0', () => {
    const limit = createClientRateLimit(config({ rateLimitRps: 2 }))!;
    expect([limit.admit('a'), limit.admit('a'), limit.admit('a')].map((v) => v === 0)).toEqual([
      true,
      true,
      false,
    ]);
  });

  it('shares the limit through Redis', async () => {
    const port = await freePort();
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
    const url = `redis://127.0.0.1:${String(port)}`;
    const overrides = { rateLimitRps: 1, rateLimitBurst: 1, rateLimitRedisUrl: url };
    const first = createClientRateLimit(config(overrides))!;
    const second = createClientRateLimit(config(overrides))!;
    cleanup.push(
      () => first.close(),
      () => second.close(),
    );
    // Until both have connected, each decides alone (the local fallback): a client's single
    // token is then spent once per instance. Once Redis decides, one instance's spending shows at
    // the other. A limiter that did not share would never get there.
    const deadline = Date.now() + 10_000;
    let shared = false;
    for (let i = 0; !shared && Date.now() < deadline; i++) {
      const client = `198.51.100.${String(i % 250)}-${String(i)}`;
      const a = await first.admit(client);
      const b = await second.admit(client);
      shared = a === 0 && b > 0;
      if (!shared) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(shared).toBe(true);
  });
});

describe('retryAfterSeconds', () => {
  it('rounds up to whole seconds, at least 1', () => {
    expect(retryAfterSeconds(1)).toBe('1');
    expect(retryAfterSeconds(1_000)).toBe('1');
    expect(retryAfterSeconds(1_001)).toBe('2');
  });
});
