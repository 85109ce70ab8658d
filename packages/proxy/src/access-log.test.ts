import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Logger, pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AccessLog, accessLogFields } from './access-log.js';
import type { FinishedRequest } from './proxy-observer.js';
import { createProxy } from './proxy.js';

const run = promisify(execFile);

function capture(level: string): {
  log: AccessLog;
  logger: Logger;
  lines: () => Record<string, unknown>[];
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const logger = pino({ level }, stream);
  return {
    log: new AccessLog(logger),
    logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function finished(overrides: Partial<FinishedRequest> = {}): FinishedRequest {
  return {
    method: 'GET',
    path: '/users/123',
    status: 200,
    durationSeconds: 0.0123456,
    upstream: 'http://127.0.0.1:9000',
    attempts: 2,
    clientIp: '203.0.113.7',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    bytesSent: 42,
    truncated: false,
    ...overrides,
  };
}

async function flush(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('AccessLog', () => {
  it('writes one JSON line per request with every access field', async () => {
    const { log, lines } = capture('info');
    log.requestStarted();
    log.requestFinished(finished());
    await flush();
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({
      level: 30,
      msg: 'request',
      method: 'GET',
      path: '/users/123',
      status: 200,
      durationMs: 12.346,
      upstream: 'http://127.0.0.1:9000',
      attempts: 2,
      clientIp: '203.0.113.7',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      bytesSent: 42,
    });
    expect(lines()[0]).not.toHaveProperty('truncated');
  });

  it('logs failures and cut-short answers at warn, so level warn keeps only those', async () => {
    const { log, lines } = capture('warn');
    log.requestFinished(finished());
    log.requestFinished(finished({ status: 502 }));
    log.requestFinished(finished({ status: 200, truncated: true }));
    log.rateLimited();
    log.backpressureRejected();
    await flush();
    expect(lines().map((l) => [l.level, l.status, l.truncated])).toEqual([
      [40, 502, undefined],
      [40, 200, true],
    ]);
  });

  it('leaves out the upstream and trace id of the proxy’s own answers', () => {
    const fields = accessLogFields(finished({ upstream: undefined, attempts: 0, traceId: '' }));
    expect(fields).not.toHaveProperty('upstream');
    expect(fields).not.toHaveProperty('traceId');
    expect(fields.attempts).toBe(0);
  });

  it('logs failed attempts, retries and budget refusals at debug only', async () => {
    const quiet = capture('info');
    quiet.log.upstreamAttempt({ upstream: 'u', status: 0, failed: true, durationSeconds: 0.1 });
    quiet.log.retried('u');
    quiet.log.retryBudgetExhausted();
    await flush();
    expect(quiet.lines()).toEqual([]);

    const verbose = capture('debug');
    verbose.log.upstreamAttempt({
      upstream: 'u',
      status: 200,
      failed: false,
      durationSeconds: 0.1,
    });
    verbose.log.upstreamAttempt({ upstream: 'u', status: 503, failed: true, durationSeconds: 0.1 });
    verbose.log.retried('u');
    verbose.log.retryBudgetExhausted();
    await flush();
    expect(verbose.lines().map((l) => l.msg)).toEqual([
      'upstream attempt failed',
      'retrying',
      'retry refused: retry budget exhausted',
    ]);
    expect(verbose.lines()[0]).toMatchObject({
      level: 20,
      upstream: 'u',
      status: 503,
      durationMs: 100,
    });
  });

  it('writes nothing when silent', async () => {
    const { log, lines } = capture('silent');
    log.requestFinished(finished({ status: 500 }));
    await flush();
    expect(lines()).toEqual([]);
  });
});

describe('createLogger', () => {
  it('writes JSON lines with ISO timestamps to stdout at the given level', async () => {
    const source = fileURLToPath(new URL('./access-log.ts', import.meta.url));
    const program = `
      import { createLogger, AccessLog } from ${JSON.stringify(source)};
      const logger = createLogger('info');
      logger.debug('hidden');
      new AccessLog(logger).requestFinished({ method: 'GET', path: '/x', status: 204, durationSeconds: 0.001,
        upstream: undefined, attempts: 0, clientIp: '127.0.0.1', traceId: '', bytesSent: 0, truncated: false });
      // Written asynchronously, yet not lost when the process exits at once.
      process.exit(0);
    `;
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', program],
      { timeout: 15_000 },
    );
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      name: 'proxykit-proxy',
      level: 30,
      msg: 'request',
      status: 204,
    });
    expect(typeof lines[0]!.time).toBe('string');
    expect(new Date(lines[0]!.time as string).toISOString()).toBe(lines[0]!.time);
  });
});

describe('the access log of a running proxy', () => {
  it('has one line per request with the trace id the upstream received, and no query', async () => {
    const seen: string[] = [];
    const upstream = createServer((req, res) => {
      seen.push(String(req.headers.traceparent));
      res.end('ok');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const origin = `http://127.0.0.1:${String((upstream.address() as { port: number }).port)}`;
    const { logger, lines } = capture('info');
    const proxy = createProxy({
      upstreams: [origin],
      listen: { host: '127.0.0.1', port: 0 },
      healthCheck: false,
      logger,
    });
    try {
      const { url } = await proxy.listen();
      const res = await fetch(`${url}/users/5?secret=hunter2`);
      expect(await res.text()).toBe('ok');
      await expect.poll(() => lines().filter((l) => l.msg === 'request').length).toBe(1);
      const line = lines().find((l) => l.msg === 'request')!;
      expect(line).toMatchObject({
        level: 30,
        method: 'GET',
        path: '/users/5',
        status: 200,
        upstream: origin,
        attempts: 1,
        clientIp: '127.0.0.1',
        bytesSent: 2,
      });
      expect(typeof line.durationMs).toBe('number');
      expect(seen).toHaveLength(1);
      expect(seen[0]!.slice(3, 35)).toBe(line.traceId);
      expect(JSON.stringify(lines())).not.toContain('hunter2');
    } finally {
      await proxy.close();
      upstream.close();
      upstream.closeAllConnections();
    }
  });
});
