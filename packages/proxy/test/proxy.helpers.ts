// Shared fixtures of the proxy's end-to-end tests: real upstream servers on 127.0.0.1 port 0,
// a plain node:http client (so tests control every header byte), and cleanup.

import { once } from 'node:events';
import type { Agent } from 'node:http';
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { createProxy, type Proxy, type ProxyOptions } from '../src/proxy.js';

/** A loopback upstream that counts its connections and requests. */
export interface TestUpstream {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  /** Requests received. */
  requests: number;
  /** Sockets open now. */
  readonly openSockets: () => number;
  close(): Promise<void>;
}

/** Starts an upstream answering with `handler`. */
export async function startUpstream(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestUpstream> {
  const sockets = new Set<Socket>();
  const upstream: { -readonly [K in keyof TestUpstream]: TestUpstream[K] } = {
    server: createServer((req, res) => {
      upstream.requests++;
      handler(req, res);
    }),
    url: '',
    port: 0,
    requests: 0,
    openSockets: () => sockets.size,
    close: async () => {
      const closed = once(upstream.server, 'close');
      upstream.server.close();
      upstream.server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
  upstream.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  upstream.server.listen(0, '127.0.0.1');
  await once(upstream.server, 'listening');
  upstream.port = (upstream.server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${String(upstream.port)}`;
  return upstream;
}

/** An upstream that answers `200 <name>` and echoes what it saw in `x-seen-*` JSON. */
export function echoUpstream(name: string): Promise<TestUpstream> {
  return startUpstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.stringify({
        name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
}

/** What {@link send} returns. */
export interface TestResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** Options of {@link send}. */
export interface SendOptions {
  readonly method?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string | Buffer | Readable;
  readonly agent?: Agent | false;
  readonly localAddress?: string;
}

/** One request with node:http; resolves with the whole response. */
export function send(url: string, options: SendOptions = {}): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

/** Creates a proxy on 127.0.0.1 port 0 with quiet logs and the given options; listens. */
export async function startProxy(
  options: ProxyOptions,
): Promise<{ proxy: Proxy; url: string; port: number }> {
  const proxy = createProxy({
    listen: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
    healthCheck: false,
    ...options,
  });
  const address = await proxy.listen();
  return { proxy, url: address.url, port: address.port };
}

/** Resolves when `condition` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
