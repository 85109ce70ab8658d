import { createHash } from 'node:crypto';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { StatusReport } from './status-board.js';
import { STATUS_PAGE_HEADERS, escapeHtml, jsonForScript, renderStatusPage } from './status-page.js';

const HOSTILE =
  'http://evil/</script><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"\'\u2028';

function report(name: string): StatusReport {
  return {
    ready: true,
    draining: false,
    windowSeconds: 10,
    uptimeSeconds: 3,
    proxy: {
      requests: 1,
      errors: 0,
      requestsPerSecond: 0.1,
      errorRate: 0,
      p50Seconds: 0.001,
      p99Seconds: 0.001,
      rateLimited: 0,
      rateLimitedTotal: 0,
      backpressureRejected: 0,
      retries: 0,
      retryBudgetExhausted: 0,
    },
    upstreams: [
      {
        name,
        healthy: true,
        breaker: 'closed',
        inFlight: 0,
        requests: 1,
        errors: 0,
        requestsPerSecond: 0.1,
        errorRate: 0,
        p50Seconds: 0.001,
        p99Seconds: 0.001,
      },
    ],
    demo: { upstreams: [{ name, failing: false }] },
  };
}

function scripts(html: string): { attrs: string; body: string }[] {
  return [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].map((m) => ({
    attrs: m[1] ?? '',
    body: m[2] ?? '',
  }));
}

describe('renderStatusPage', () => {
  it('is one self-contained document: no external scripts, styles, images or fonts', () => {
    const html = renderStatusPage();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/\bsrc\s*=/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs).toEqual(['status.json']);
  });

  it('polls status.json relative to the page and posts demo toggles to status/demo', () => {
    const html = renderStatusPage();
    expect(html).toContain("fetch('status.json'");
    expect(html).toContain("'status/demo?upstream=' + encodeURIComponent(name)");
    expect(html).toContain('setTimeout(poll, 1000)');
  });

  it('embeds a hostile upstream name as inert JSON that round-trips exactly', () => {
    const r = report(HOSTILE);
    const html = renderStatusPage(r);
    const found = scripts(html);
    expect(found).toHaveLength(2);
    expect(found[0]!.attrs).toContain('type="application/json"');
    expect(found[0]!.body).not.toMatch(/[<>&\u2028]/);
    expect(JSON.parse(found[0]!.body)).toEqual(r);
    expect(html).not.toContain('<img');
    expect(html.match(/<script/g)).toHaveLength(2);
  });

  it('builds the table with textContent and attributes only, never with markup', () => {
    const body = scripts(renderStatusPage())[1]!.body;
    expect(body).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
    expect(body).toContain('textContent');
    // The script must at least parse.
    expect(() => new Script(body)).not.toThrow();
  });

  it('escapes the title', () => {
    const html = renderStatusPage(undefined, { title: '<b>"x"</b>' });
    expect(html).toContain('<h1>&lt;b&gt;&quot;x&quot;&lt;/b&gt;</h1>');
    expect(html).not.toContain('<b>');
  });

  it('ships a Content-Security-Policy that admits exactly its inline script and style', () => {
    const html = renderStatusPage(report('http://127.0.0.1:1'));
    const csp = STATUS_PAGE_HEADERS['content-security-policy']!;
    const hash = (text: string): string =>
      `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    const script = scripts(html)[1]!.body;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    expect(csp).toContain(`script-src ${hash(script)}`);
    expect(csp).toContain(`style-src ${hash(style)}`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(STATUS_PAGE_HEADERS['content-type']).toBe('text/html; charset=utf-8');
  });
});

describe('escaping helpers', () => {
  it('escapeHtml escapes the five HTML-special characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
  });

  it('jsonForScript keeps the value and hides every character that could end the script', () => {
    const value = { s: HOSTILE, n: [1, null, true] };
    const text = jsonForScript(value);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(value);
    expect(jsonForScript(undefined)).toBe('null');
  });
});
