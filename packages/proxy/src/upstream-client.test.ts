import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KeyedCircuitBreaker } from '@proxykit/circuit-breaker';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_PROXY_CONFIG } from './proxy-config.js';
import {
  type AttemptSink,
  CLIENT_ABORTED,
  createUpstreamPool,
  gatewayStatusFor,
  UpstreamCall,
} from './upstream-client.js';
import { parseUpstreamUrl, UpstreamSelector } from './upstream-selector.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

class Recorder implements AttemptSink {
  readonly events: string[] = [];
  body = '';
  done: Promise<void>;
  #resolve: () => void = () => undefined;

  constructor() {
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }

  attemptHeaders(_call: UpstreamCall, status: number, headers: IncomingHttpHeaders): void {
    this.events.push(`headers ${String(status)} ${String(headers['x-test'])}`);
  }

  attemptData(_call: UpstreamCall, chunk: Buffer): void {
    this.body += chunk.toString('utf8');
  }

  attemptEnd(): void {
    this.events.push('end');
    this.#resolve();
  }

  attemptError(_call: UpstreamCall, error: Error): void {
    this.events.push(`error ${error.name}`);
    this.#resolve();
  }
}

async function setup(handler: Parameters<typeof createServer>[1]) {
  const server = createServer(handler).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  const target = parseUpstreamUrl(url);
  const config = { ...DEFAULT_PROXY_CONFIG, upstreams: [url], healthCheck: false };
  const selector = new UpstreamSelector(config, [target]);
  const pool = createUpstreamPool(target, config);
  cleanup.push(async () => {
    await pool.destroy();
    server.closeAllConnections();
    server.close();
  });
  return { pool, entry: selector.pick('x', undefined, 0)! };
}

describe('UpstreamCall', () => {
  it('reports headers, body chunks and the end', async () => {
    const { pool, entry } = await setup((_req, res) => {
      res.writeHead(201, { 'x-test': 'yes' });
      res.end('hello');
    });
    const sink = new Recorder();
    const call = new UpstreamCall(sink, entry, 0, performance.now());
    call.dispatch(pool, { path: '/', method: 'GET', headers: {} });
    await sink.done;
    expect(sink.events).toEqual(['headers 201 yes', 'end']);
    expect(sink.body).toBe('hello');
    expect(call.statusCode).toBe(201);
    expect(call.answered).toBe(true);
  });

  it('reports the response to its breaker permit at headers: a 503 counts as a failure', async () => {
    const { pool, entry } = await setup((_req, res) => res.writeHead(503).end());
    const breakers = new KeyedCircuitBreaker<string>({ failureThreshold: 1 });
    const sink = new Recorder();
    const permit = breakers.tryAcquire('up');
    const call = new UpstreamCall(sink, entry, 0, performance.now(), permit);
    call.dispatch(pool, { path: '/', method: 'GET', headers: {} });
    await sink.done;
    expect(call.statusCode).toBe(503);
    expect(breakers.stateOf('up')).toBe('open');
  });

  it('reports the error to its breaker permit when no response arrives', async () => {
    const { pool, entry } = await setup((req) => req.socket.destroy());
    const breakers = new KeyedCircuitBreaker<string>({ failureThreshold: 1 });
    const sink = new Recorder();
    const call = new UpstreamCall(sink, entry, 0, performance.now(), breakers.tryAcquire('up'));
    call.dispatch(pool, { path: '/', method: 'GET', headers: {} });
    await sink.done;
    expect(sink.events).toEqual(['error SocketError']);
    expect(breakers.stateOf('up')).toBe('open');
  });

  it('tells its breaker permit nothing counts when the client aborted', async () => {
    const { pool, entry } = await setup(() => undefined);
    const breakers = new KeyedCircuitBreaker<string>({ failureThreshold: 1 });
    const sink = new Recorder();
    const call = new UpstreamCall(sink, entry, 0, performance.now(), breakers.tryAcquire('up'));
    call.dispatch(pool, { path: '/', method: 'GET', headers: {} });
    await new Promise((resolve) => setTimeout(resolve, 50));
    call.abort(CLIENT_ABORTED);
    await sink.done;
    expect(breakers.stateOf('up')).toBe('closed');
  });

  it('aborts with the client-aborted reason', async () => {
    const { pool, entry } = await setup(() => undefined);
    const sink = new Recorder();
    const call = new UpstreamCall(sink, entry, 0, performance.now());
    call.dispatch(pool, { path: '/', method: 'GET', headers: {} });
    await new Promise((resolve) => setTimeout(resolve, 50));
    call.abort(CLIENT_ABORTED);
    await sink.done;
    expect(sink.events).toEqual(['error AbortError']);
    expect(call.ended).toBe(true);
  });
});

describe('gatewayStatusFor', () => {
  it('is 504 for timeouts and 502 for everything else', () => {
    const withCode = (code: string) => Object.assign(new Error('x'), { code });
    expect(gatewayStatusFor(withCode('UND_ERR_HEADERS_TIMEOUT'))).toBe(504);
    expect(gatewayStatusFor(withCode('UND_ERR_BODY_TIMEOUT'))).toBe(504);
    expect(gatewayStatusFor(withCode('UND_ERR_CONNECT_TIMEOUT'))).toBe(502);
    expect(gatewayStatusFor(withCode('ECONNREFUSED'))).toBe(502);
    expect(gatewayStatusFor(withCode('ECONNRESET'))).toBe(502);
    expect(gatewayStatusFor(new Error('x'))).toBe(502);
  });
});
