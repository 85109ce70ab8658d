// The /status page in a real browser: Debian's Chromium, driven by playwright-core, loads the page
// of a real proxy in front of two real upstreams, sees both healthy, then sees one turn unhealthy
// with its breaker open after that upstream is stopped, and saves the screenshot the docs show.
// A second test serves the page over a fake status to check hostile names, the demo buttons and
// the unreachable state. A missing Chromium fails the test; it never skips.

import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { once } from 'node:events';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { VirtualClock } from '@proxykit/core';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Proxy, createProxy } from '../src/proxy.js';
import type { DemoControl, ProxyStatusSource, UpstreamStatus } from '../src/proxy-observer.js';
import { StatusBoard } from '../src/status-board.js';
import { STATUS_PAGE_HEADERS, renderStatusPage } from '../src/status-page.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../../docs/status.png', import.meta.url));

interface LoopbackServer {
  readonly url: string;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 port 0 that closes every socket when asked to. */
async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<LoopbackServer> {
  const server: Server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        for (const socket of sockets) socket.destroy();
      })),
  };
}

function upstream(name: string): Promise<LoopbackServer> {
  return serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from ${name}\n`);
  });
}

async function get(url: string): Promise<number> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status;
}

/** CSS attribute selector for an upstream's row. */
function row(name: string, extra = ''): string {
  return `tr[data-upstream=${JSON.stringify(name)}]${extra}`;
}

let browser: Browser | undefined;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the status page test needs a real browser. ` +
        `Install Debian's package (apt-get install chromium) or set CHROMIUM_PATH.`,
    );
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await browser?.close();
});

async function newPage(): Promise<Page> {
  if (browser === undefined) throw new Error('browser not launched');
  const context = await browser.newContext({ viewport: { width: 1100, height: 420 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  // Fail with playwright's message (which selector never matched) before vitest's own timeout.
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('console', (message) => {
    // A refused status.json (the unreachable test) is logged by the browser itself.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
      problems.push(message.text());
    }
  });
  cleanups.push(() => {
    expect(problems).toEqual([]);
    return Promise.resolve();
  });
  return page;
}

describe('the /status page of a real proxy', () => {
  it('shows both upstreams healthy, then one down with its breaker open', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const proxy: Proxy = createProxy({
      upstreams: [a.url, b.url],
      listen: { host: '127.0.0.1', port: 0 },
      healthCheck: true,
      healthCheckIntervalSecs: 0.5,
      circuitBreaker: true,
      circuitBreakerFailureThreshold: 2,
      circuitBreakerOpenMs: 60_000,
      logLevel: 'silent',
      metricsBearerToken: 'status-token',
    });
    cleanups.push(() => proxy.close());
    const address = await proxy.listen();

    const page = await newPage();
    // A browser cannot send the bearer header when opening a page: it passes the token in the
    // query, and the page sends it as a bearer token when it polls status.json.
    await page.goto(`${address.url}/status?token=status-token`);
    await page.waitForSelector(row(a.url, '[data-healthy="true"][data-breaker="closed"]'));
    await page.waitForSelector(row(b.url, '[data-healthy="true"][data-breaker="closed"]'));
    await page.waitForSelector('#state[data-state="ready"]');

    for (let i = 0; i < 20; i++) expect(await get(`${address.url}/items/${String(i)}`)).toBe(200);
    await page.waitForSelector(row(b.url, ':not([data-requests="0"])'));

    await b.close();
    // Round robin sends some of these to the stopped upstream: connection refused, retried on the
    // other one, and counted by the stopped upstream's breaker.
    for (let i = 0; i < 12; i++) await get(`${address.url}/items/${String(i)}`);

    await page.waitForSelector(row(b.url, '[data-healthy="false"][data-breaker="open"]'), {
      timeout: 10_000,
    });
    await page.waitForSelector(row(a.url, '[data-healthy="true"][data-breaker="closed"]'));
    expect(await page.textContent(`${row(b.url)} [data-field="health"]`)).toBe('DOWN');
    expect(await page.textContent(`${row(b.url)} [data-field="breaker"]`)).toBe('open');
    expect(await page.textContent(`${row(a.url)} [data-field="health"]`)).toBe('UP');
    expect(await page.getAttribute(row(b.url), 'class')).toBe('down open');

    await mkdir(fileURLToPath(new URL('../../../docs/', import.meta.url)), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(existsSync(SCREENSHOT)).toBe(true);
  });
});

describe('the status page over a fake status', () => {
  it('shows hostile names as text, drives the demo switch and notices an unreachable proxy', async () => {
    const hostile = '<img src=x onerror="alert(1)">"</script>';
    const good = 'http://127.0.0.1:9000';
    const failing = new Map([
      [good, false],
      [hostile, false],
    ]);
    const demo: DemoControl = {
      upstreams: () => [...failing].map(([name, f]) => ({ name, failing: f })),
      setFailing: (name, value) => {
        if (!failing.has(name)) throw new RangeError(`unknown demo upstream ${name}`);
        failing.set(name, value);
      },
    };
    const status: ProxyStatusSource = {
      ready: true,
      draining: false,
      demo,
      upstreams: (): UpstreamStatus[] =>
        [...failing].map(([name, f]) => ({
          name,
          healthy: !f,
          breaker: f ? 'open' : 'closed',
          inFlight: 0,
        })),
    };
    const clock = new VirtualClock();
    const board = new StatusBoard({ status, clock });
    board.upstreamAttempt({ upstream: good, status: 200, failed: false, durationSeconds: 0.004 });
    let broken = false;
    const posts: string[] = [];
    const server = await serve((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname === '/status.json') {
        if (broken) {
          res.writeHead(500).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(board.report()));
      } else if (url.pathname === '/status/demo' && req.method === 'POST') {
        posts.push(
          `${url.searchParams.get('upstream') ?? ''} ${url.searchParams.get('failing') ?? ''}`,
        );
        demo.setFailing(
          url.searchParams.get('upstream') ?? '',
          url.searchParams.get('failing') === '1',
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
      } else {
        res.writeHead(200, STATUS_PAGE_HEADERS);
        res.end(renderStatusPage(board.report()));
      }
    });
    cleanups.push(() => server.close());

    const page = await newPage();
    await page.goto(`${server.url}/status`);
    await page.waitForSelector(row(hostile));
    expect(await page.textContent(`${row(hostile)} [data-field="name"]`)).toBe(hostile);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.textContent(`${row(good)} [data-field="requests"]`)).toBe('1');

    await page.click(`${row(hostile)} button[data-action="break"]`);
    await page.waitForSelector(row(hostile, '[data-healthy="false"][data-breaker="open"]'));
    await page.waitForSelector(`${row(hostile)} button[data-action="repair"]`);
    expect(posts).toEqual([`${hostile} 1`]);
    await page.click(`${row(hostile)} button[data-action="repair"]`);
    await page.waitForSelector(row(hostile, '[data-healthy="true"]'));
    expect(posts).toEqual([`${hostile} 1`, `${hostile} 0`]);

    broken = true;
    await page.waitForSelector('#state[data-state="unreachable"]');
    broken = false;
    await page.waitForSelector('#state[data-state="ready"]');
  });
});
