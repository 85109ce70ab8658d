import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { get, killAll, listeningUrl, spawnCli } from './cli.helpers.js';

afterEach(killAll);

function post(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

interface DemoEntry {
  readonly name: string;
  readonly failing: boolean;
}

describe('proxykit-proxy demo mode with two workers', () => {
  it('shares one pair of demo upstreams, and a switch flipped on one worker reaches all', async () => {
    const cli = spawnCli({ REVERSE_PROXY_WORKERS: '2' });
    const demoLine = await cli.waitForLog((l) => Array.isArray(l.demo));
    const [first, second] = demoLine.demo as [string, string];
    const url = await listeningUrl(cli);

    expect(await post(`${url}/status/demo?upstream=${encodeURIComponent(second)}&failing=1`)).toBe(
      200,
    );
    // The primary owns the demo upstreams: the switch reached it.
    const deadline = Date.now() + 10_000;
    while ((await get(`${second}/`)).status !== 503 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await get(`${second}/`)).status).toBe(503);
    expect((await get(`${first}/`)).status).toBe(200);

    // Connections alternate between the workers; every one of them reports the new state.
    const expected: DemoEntry[] = [
      { name: first, failing: false },
      { name: second, failing: true },
    ];
    const states: unknown[] = [];
    while (Date.now() < deadline) {
      states.length = 0;
      for (let i = 0; i < 4; i++) {
        const report = JSON.parse((await get(`${url}/status.json`)).body) as {
          demo?: { upstreams?: unknown };
        };
        states.push(report.demo?.upstreams);
      }
      if (states.every((s) => JSON.stringify(s) === JSON.stringify(expected))) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(states).toEqual([expected, expected, expected, expected]);

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});
