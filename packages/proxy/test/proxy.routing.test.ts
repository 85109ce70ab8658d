import { afterEach, describe, expect, it } from 'vitest';
import type { Proxy } from '../src/proxy.js';
import {
  echoUpstream,
  send,
  startProxy,
  startUpstream,
  type TestUpstream,
} from './proxy.helpers.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function upstreams(...names: string[]): Promise<TestUpstream[]> {
  const list = await Promise.all(names.map((name) => echoUpstream(name)));
  for (const upstream of list) cleanup.push(() => upstream.close());
  return list;
}

async function proxyFor(
  options: Parameters<typeof startProxy>[0],
): Promise<{ proxy: Proxy; url: string }> {
  const started = await startProxy(options);
  cleanup.push(() => started.proxy.close());
  return started;
}

describe('routing', () => {
  it('spreads requests evenly over the upstreams with round robin', async () => {
    const [a, b, c] = await upstreams('a', 'b', 'c');
    const { url } = await proxyFor({ upstreams: [a!.url, b!.url, c!.url] });
    const seen: string[] = [];
    for (let i = 0; i < 30; i++) {
      const response = await send(`${url}/x`);
      expect(response.status).toBe(200);
      seen.push((JSON.parse(response.body) as { name: string }).name);
    }
    expect(seen.filter((n) => n === 'a')).toHaveLength(10);
    expect(seen.filter((n) => n === 'b')).toHaveLength(10);
    expect(seen.filter((n) => n === 'c')).toHaveLength(10);
    // Strict rotation: no upstream twice in a row.
    for (let i = 1; i < seen.length; i++) expect(seen[i]).not.toBe(seen[i - 1]);
  });

  it.each(['random', 'least_conn', 'p2c', 'peak_ewma', 'maglev'] as const)(
    'proxies with lb=%s over two upstreams',
    async (lb) => {
      const [a, b] = await upstreams('a', 'b');
      const { url } = await proxyFor({ upstreams: [a!.url, b!.url], lb });
      const names = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const response = await send(`${url}/lb`);
        expect(response.status).toBe(200);
        names.add((JSON.parse(response.body) as { name: string }).name);
      }
      if (lb === 'maglev')
        expect(names.size).toBe(1); // one client IP sticks to one upstream
      else if (lb === 'peak_ewma')
        expect(names.size).toBeGreaterThanOrEqual(1); // latency decides
      else expect(names.size).toBe(2); // random choices: both within 20 picks (1 - 2^-19)
    },
  );

  it('forwards method, path, query and body, and returns the upstream status and headers', async () => {
    const upstream = await startUpstream((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        res.writeHead(201, { 'x-echo': `${req.method ?? ''} ${req.url ?? ''} ${body}` });
        res.end('created');
      });
    });
    cleanup.push(() => upstream.close());
    const { url } = await proxyFor({ upstreams: [upstream.url] });
    const response = await send(`${url}/items?x=1`, { method: 'POST', body: 'hello' });
    expect(response.status).toBe(201);
    expect(response.headers['x-echo']).toBe('POST /items?x=1 hello');
    expect(response.body).toBe('created');
  });
});
