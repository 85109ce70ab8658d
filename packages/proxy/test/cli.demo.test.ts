import { afterEach, describe, expect, it } from 'vitest';
import { get, killAll, listeningUrl, spawnCli, waitForStatus } from './cli.helpers.js';

afterEach(killAll);

/** Which demo upstream answered each of `count` requests. */
async function answeredBy(
  url: string,
  count: number,
): Promise<{ status: number; upstream: string }[]> {
  const out: { status: number; upstream: string }[] = [];
  for (let i = 0; i < count; i++) {
    const answer = await get(`${url}/hello/${String(i)}`);
    const body = JSON.parse(answer.body) as { upstream?: string };
    out.push({ status: answer.status, upstream: body.upstream ?? '' });
  }
  return out;
}

describe('proxykit-proxy demo mode', () => {
  it('starts two demo upstreams, says so in one line, and proxies to both', async () => {
    const cli = spawnCli({ REVERSE_PROXY_LOG_LEVEL: 'info' });
    const demoLine = await cli.waitForLog((l) => Array.isArray(l.demo));
    expect(demoLine.msg).toMatch(/^demo mode: REVERSE_PROXY_UPSTREAMS is not set/);
    expect(demoLine.msg).toContain('REVERSE_PROXY_DEMO_FAIL');
    const demoUrls = demoLine.demo as string[];
    expect(demoUrls).toHaveLength(2);
    for (const demoUrl of demoUrls) expect(demoLine.msg).toContain(demoUrl);

    const url = await listeningUrl(cli);
    const listening = cli.logs.find((l) => l.url === url);
    expect(listening?.status).toBe(`${url}/status`);
    await waitForStatus(`${url}/readyz`, 200);
    const answers = await answeredBy(url, 6);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.upstream))).toEqual(new Set(['demo-1', 'demo-2']));

    cli.child.kill('SIGTERM');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
    expect(cli.stderr()).toBe('');
  });

  it('starts with one demo upstream failing when REVERSE_PROXY_DEMO_FAIL names it', async () => {
    const cli = spawnCli({ REVERSE_PROXY_DEMO_FAIL: '2' });
    const demoLine = await cli.waitForLog((l) => Array.isArray(l.demo));
    const failing = (demoLine.demo as string[])[1] ?? '';
    expect((await get(`${failing}/`)).status).toBe(503);
    const url = await listeningUrl(cli);
    await waitForStatus(`${url}/readyz`, 200);
    // GETs that meet the failing upstream are retried onto the healthy one.
    const answers = await answeredBy(url, 6);
    expect(answers).toEqual(Array.from({ length: 6 }, () => ({ status: 200, upstream: 'demo-1' })));

    cli.child.kill('SIGINT');
    expect(await cli.exited).toEqual({ code: 0, signal: null });
  });
});
