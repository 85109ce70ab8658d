/**
 * Why: `pnpm start` with nothing configured should still show the proxy at work — load balancing,
 * health checks, the breaker opening and closing — without the user writing a backend first, the
 * way Traefik's `whoami` and HAProxy's demo backends do. So the CLI starts two tiny HTTP servers
 * on loopback, each answering a small JSON (or HTML, for a browser) body naming itself after a
 * little random latency, so the status page has latencies to show. Either can be switched to
 * answering 503 — every path, its health path `/` included — from the status page (through
 * {@link DemoControl}) or at start-up with `REVERSE_PROXY_DEMO_FAIL`.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { requireInteger } from '@proxykit/core';
import { ConfigError } from './config-error.js';
import type { DemoControl } from './proxy-observer.js';

/** The environment variable naming the demo upstream (1 or 2) that starts failing. */
export const DEMO_FAIL_VARIABLE = 'REVERSE_PROXY_DEMO_FAIL';

/** How many demo upstreams {@link startDemoUpstreams} starts. */
export const DEMO_UPSTREAM_COUNT = 2;

/** Options of {@link startDemoUpstreams}. */
export interface DemoUpstreamsOptions {
  /** Demo upstreams (numbered from 1) that start failing, e.g. `[2]`. Default none. */
  readonly failing?: readonly number[];
  /** Each answer waits a random time up to this many ms, an integer in [0, 10000] (default 40). */
  readonly maxLatencyMs?: number;
}

/** The running demo upstreams. */
export interface DemoUpstreams {
  /** Their base URLs (`http://127.0.0.1:<port>`), in order: demo 1, demo 2. */
  readonly urls: string[];
  /** Switches them between answering and failing; names are their URLs. */
  readonly control: DemoControl;
  /** Stops both servers, closing their connections. */
  close(): Promise<void>;
}

const OWNER = 'startDemoUpstreams';
const DEFAULT_MAX_LATENCY_MS = 40;

interface DemoServer {
  readonly label: string;
  readonly server: Server;
  url: string;
  failing: boolean;
}

/**
 * Reads `REVERSE_PROXY_DEMO_FAIL` from `env`: unset or blank means none failing, otherwise the
 * number of one demo upstream (`1` or `2`).
 *
 * @throws ConfigError with the one-line message of every configuration error
 */
export function demoFailingFromEnv(env: Readonly<Record<string, string | undefined>>): number[] {
  const raw = env[DEMO_FAIL_VARIABLE];
  if (raw === undefined || raw.trim() === '') return [];
  const text = raw.trim();
  const index = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(index) || index < 1 || index > DEMO_UPSTREAM_COUNT) {
    throw new ConfigError(
      DEMO_FAIL_VARIABLE,
      JSON.stringify(raw),
      `the number of a demo upstream, 1 or ${DEMO_UPSTREAM_COUNT}`,
    );
  }
  return [index];
}

/**
 * Starts the demo upstreams on 127.0.0.1, each on a free port. Every path answers 200 with a small
 * body naming the upstream (HTML when the client prefers it, JSON otherwise), or 503 while that
 * upstream is failing.
 */
export async function startDemoUpstreams(
  options: DemoUpstreamsOptions = {},
): Promise<DemoUpstreams> {
  const maxLatencyMs = requireInteger(
    OWNER,
    'maxLatencyMs',
    options.maxLatencyMs ?? DEFAULT_MAX_LATENCY_MS,
    0,
    10_000,
  );
  const failing = new Set<number>();
  for (const index of options.failing ?? []) {
    failing.add(requireInteger(OWNER, 'failing[]', index, 1, DEMO_UPSTREAM_COUNT));
  }

  const demos: DemoServer[] = [];
  for (let n = 1; n <= DEMO_UPSTREAM_COUNT; n++) {
    const demo: DemoServer = {
      label: `demo-${n}`,
      server: createServer((req, res) => {
        answer(demo, req, res, maxLatencyMs);
      }),
      url: '',
      failing: failing.has(n),
    };
    demos.push(demo);
  }
  const close = async (): Promise<void> => {
    await Promise.all(
      demos.map(async ({ server }) => {
        if (!server.listening) return;
        const closed = once(server, 'close');
        server.close();
        server.closeAllConnections();
        await closed;
      }),
    );
  };
  try {
    for (const demo of demos) {
      demo.server.listen(0, '127.0.0.1');
      await once(demo.server, 'listening');
      const { port } = demo.server.address() as { port: number };
      demo.url = `http://127.0.0.1:${port}`;
    }
  } catch (error) {
    await close();
    throw error;
  }

  const byName = (name: string): DemoServer => {
    const demo = demos.find((d) => d.url === name);
    if (demo === undefined) {
      throw new RangeError(
        `DemoControl: no demo upstream named ${JSON.stringify(name)} (known: ${demos.map((d) => d.url).join(', ')})`,
      );
    }
    return demo;
  };
  const control: DemoControl = {
    upstreams: () => demos.map((d) => ({ name: d.url, failing: d.failing })),
    setFailing(name: string, isFailing: boolean): void {
      byName(name).failing = isFailing;
    },
  };
  return { urls: demos.map((d) => d.url), control, close };
}

function answer(
  demo: DemoServer,
  req: IncomingMessage,
  res: ServerResponse,
  maxLatencyMs: number,
): void {
  req.resume();
  const latency = maxLatencyMs === 0 ? 0 : Math.floor(Math.random() * (maxLatencyMs + 1));
  // A client that goes away before the answer cancels it.
  const cancel = (): void => {
    clearTimeout(timer);
  };
  const timer = setTimeout(() => {
    res.off('close', cancel);
    respond(demo, req, res);
  }, latency);
  res.once('close', cancel);
}

function respond(demo: DemoServer, req: IncomingMessage, res: ServerResponse): void {
  if (res.destroyed) return;
  const status = demo.failing ? 503 : 200;
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  const html = /\btext\/html\b/.test(req.headers.accept ?? '');
  res.statusCode = status;
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-demo-upstream', demo.label);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (html) {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    const title = demo.failing
      ? `${demo.label} is failing on purpose (503)`
      : `Hello from ${demo.label}`;
    res.end(
      `<!doctype html><meta charset="utf-8"><title>${title}</title>` +
        `<h1>${title}</h1><p>${escapeHtml(req.method ?? 'GET')} ${escapeHtml(path)} ` +
        `served by ${demo.url}. See the proxy's <a href="/status">status page</a>.</p>\n`,
    );
    return;
  }
  res.setHeader('content-type', 'application/json; charset=utf-8');
  const forwardedFor = req.headers['x-forwarded-for'];
  res.end(
    JSON.stringify({
      upstream: demo.label,
      url: demo.url,
      status,
      ...(demo.failing ? { error: 'failing on purpose' } : {}),
      method: req.method,
      path,
      ...(forwardedFor === undefined ? {} : { forwardedFor }),
    }) + '\n',
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
