import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from './config-error.js';
import {
  DEMO_FAIL_VARIABLE,
  type DemoUpstreams,
  demoFailingFromEnv,
  startDemoUpstreams,
} from './demo-upstreams.js';

const started: DemoUpstreams[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((demo) => demo.close()));
});

async function start(
  options: Parameters<typeof startDemoUpstreams>[0] = {},
): Promise<DemoUpstreams> {
  const demo = await startDemoUpstreams(options);
  started.push(demo);
  return demo;
}

interface Answer {
  readonly status: number;
  readonly type: string;
  readonly body: string;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(url, { headers });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: await res.text(),
  };
}

describe('startDemoUpstreams', () => {
  it('starts two loopback upstreams that answer with their own name', async () => {
    const demo = await start({ maxLatencyMs: 5 });
    expect(demo.urls).toHaveLength(2);
    expect(new Set(demo.urls).size).toBe(2);
    for (const [i, url] of demo.urls.entries()) {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const answer = await get(`${url}/users/7?x=1`, { 'x-forwarded-for': '203.0.113.9' });
      expect(answer.status).toBe(200);
      expect(answer.type).toMatch(/^application\/json/);
      expect(JSON.parse(answer.body)).toEqual({
        upstream: `demo-${String(i + 1)}`,
        url,
        status: 200,
        method: 'GET',
        path: '/users/7',
        forwardedFor: '203.0.113.9',
      });
    }
    expect(demo.control.upstreams()).toEqual(demo.urls.map((name) => ({ name, failing: false })));
  });

  it('answers HTML to a browser, with markup in the path escaped', async () => {
    const demo = await start({ maxLatencyMs: 0 });
    const answer = await get(`${demo.urls[0]!}/<b>`, { accept: 'text/html,*/*' });
    expect(answer.status).toBe(200);
    expect(answer.type).toMatch(/^text\/html/);
    expect(answer.body).toContain('Hello from demo-1');
    expect(answer.body).not.toContain('<b>');
  });

  it('fails one upstream, health path included, and brings it back', async () => {
    const demo = await start({ maxLatencyMs: 0 });
    const [first, second] = demo.urls as [string, string];
    demo.control.setFailing(second, true);
    expect(demo.control.upstreams()).toEqual([
      { name: first, failing: false },
      { name: second, failing: true },
    ]);
    expect((await get(`${first}/`)).status).toBe(200);
    const failing = await get(`${second}/`);
    expect(failing.status).toBe(503);
    expect(JSON.parse(failing.body)).toMatchObject({
      upstream: 'demo-2',
      error: 'failing on purpose',
    });
    expect((await get(`${second}/anything`)).status).toBe(503);
    demo.control.setFailing(second, false);
    expect((await get(`${second}/`)).status).toBe(200);
    expect(() => {
      demo.control.setFailing('http://127.0.0.1:1', true);
    }).toThrow(RangeError);
  });

  it('can start with an upstream failing', async () => {
    const demo = await start({ maxLatencyMs: 0, failing: [1] });
    expect((await get(`${demo.urls[0]!}/`)).status).toBe(503);
    expect((await get(`${demo.urls[1]!}/`)).status).toBe(200);
  });

  it('answers HEAD without a body', async () => {
    const demo = await start({ maxLatencyMs: 0 });
    const res = await fetch(demo.urls[0]!, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('closes its servers and their connections', async () => {
    const demo = await startDemoUpstreams({ maxLatencyMs: 0 });
    expect((await get(demo.urls[0]!)).status).toBe(200);
    await demo.close();
    await expect(fetch(demo.urls[0]!)).rejects.toThrow();
    await demo.close();
  });

  it('validates its options', async () => {
    await expect(startDemoUpstreams({ maxLatencyMs: -1 })).rejects.toThrow(/maxLatencyMs/);
    await expect(startDemoUpstreams({ failing: [3] })).rejects.toThrow(RangeError);
  });
});

describe('demoFailingFromEnv', () => {
  it('reads the demo upstream to fail', () => {
    expect(demoFailingFromEnv({})).toEqual([]);
    expect(demoFailingFromEnv({ [DEMO_FAIL_VARIABLE]: ' ' })).toEqual([]);
    expect(demoFailingFromEnv({ [DEMO_FAIL_VARIABLE]: '2' })).toEqual([2]);
    expect(demoFailingFromEnv({ [DEMO_FAIL_VARIABLE]: ' 1 ' })).toEqual([1]);
  });

  it('rejects anything else with a one-line ConfigError', () => {
    for (const bad of ['0', '3', 'x', '1.5', '-1', '1,2']) {
      let error: unknown;
      try {
        demoFailingFromEnv({ [DEMO_FAIL_VARIABLE]: bad });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message).toBe(
        `REVERSE_PROXY_DEMO_FAIL=${JSON.stringify(bad)} is not valid: expected the number of a demo upstream, 1 or 2`,
      );
    }
  });
});
