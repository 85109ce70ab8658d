import { describe, expect, it } from 'vitest';
import { DEFAULT_PROXY_CONFIG, type ProxyConfig } from './proxy-config.js';
import { parseUpstreamUrl, UpstreamSelector } from './upstream-selector.js';

function selector(urls: string[], overrides: Partial<ProxyConfig> = {}): UpstreamSelector {
  const config = { ...DEFAULT_PROXY_CONFIG, healthCheck: false, upstreams: urls, ...overrides };
  return new UpstreamSelector(config, urls.map(parseUpstreamUrl));
}

describe('parseUpstreamUrl', () => {
  it('reads origin, host, port, Host header and base path', () => {
    expect(parseUpstreamUrl('http://127.0.0.1:9000')).toEqual({
      name: 'http://127.0.0.1:9000',
      scheme: 'http',
      host: '127.0.0.1',
      port: 9000,
      hostHeader: '127.0.0.1:9000',
      basePath: '',
    });
    expect(parseUpstreamUrl('https://api.example/v1/')).toMatchObject({
      name: 'https://api.example',
      port: 443,
      hostHeader: 'api.example',
      basePath: '/v1',
    });
    expect(parseUpstreamUrl('http://[::1]:8080')).toMatchObject({ host: '::1', port: 8080 });
    expect(parseUpstreamUrl('http://backend')).toMatchObject({ port: 80, hostHeader: 'backend' });
  });

  it('refuses what is not an http(s) upstream, naming the option', () => {
    for (const bad of [
      'backend:80',
      'ftp://x',
      'http://u:p@x',
      'http://x/?q=1',
      'http://x/#f',
      '',
    ]) {
      expect(() => parseUpstreamUrl(bad), bad).toThrow(/^upstreams: /);
    }
  });
});

describe('UpstreamSelector', () => {
  const a = 'http://127.0.0.1:1';
  const b = 'http://127.0.0.1:2';
  const c = 'http://127.0.0.1:3';

  it('prefers upstreams the request has not tried, and falls back to them when needed', () => {
    const s = selector([a, b, c]);
    const [ta, tb, tc] = s.targets;
    for (let i = 0; i < 10; i++) {
      const picked = s.pick('1.2.3.4', [ta!, tb!], 2)?.upstream;
      expect(picked).toBe(tc);
    }
    expect(s.pick('1.2.3.4', [ta!, tb!, tc!], 3)).toBeDefined();
  });

  it('skips an upstream whose breaker is open, and reports it', async () => {
    const s = selector([a, b], { circuitBreakerFailureThreshold: 1, circuitBreakerOpenMs: 60_000 });
    await s.breakers!.execute(b, () => Promise.resolve({ status: 503 }));
    for (let i = 0; i < 6; i++) expect(s.pick('x', undefined, 0)?.upstream.name).toBe(a);
    expect(s.statuses().map((u) => u.breaker)).toEqual(['closed', 'open']);
    expect(s.anyAvailable()).toBe(true);
  });

  it('skips an upstream passive health checks ejected', () => {
    const s = selector([a, b]);
    for (let i = 0; i < 5; i++) s.report(s.targets[1]!, 'upstream');
    expect(s.statuses()[1]!.healthy).toBe(false);
    for (let i = 0; i < 6; i++) expect(s.pick('x', undefined, 0)?.upstream.name).toBe(a);
  });

  it('has nothing to pick when every upstream is unavailable', async () => {
    const s = selector([a], { circuitBreakerFailureThreshold: 1 });
    await s.breakers!.execute(a, () => Promise.resolve({ status: 502 }));
    expect(s.pick('x', undefined, 0)).toBeUndefined();
    expect(s.anyAvailable()).toBe(false);
  });

  it('counts attempts in flight per upstream', () => {
    const s = selector([a, b], { circuitBreaker: false });
    const entry = s.pick('x', undefined, 0)!;
    const mark = s.begin(entry);
    expect(s.statuses().find((u) => u.name === entry.upstream.name)?.inFlight).toBe(1);
    s.end(entry, mark);
    expect(s.statuses().every((u) => u.inFlight === 0 && u.breaker === 'disabled')).toBe(true);
  });

  it('is ready at once without active checks', () => {
    expect(selector([a]).firstRoundDone).toBe(true);
    expect(selector([a], { healthCheck: true }).firstRoundDone).toBe(false);
  });

  it('keeps a client on one upstream with maglev', () => {
    const s = selector([a, b, c], { lb: 'maglev' });
    const first = s.pick('203.0.113.9', undefined, 0)?.upstream;
    for (let i = 0; i < 10; i++) expect(s.pick('203.0.113.9', undefined, 0)?.upstream).toBe(first);
  });

  it('refuses a duplicate upstream', () => {
    expect(() => selector([a, a])).toThrow(RangeError);
  });
});
