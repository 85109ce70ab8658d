/**
 * Why: WebSocket (and any other HTTP/1.1 Upgrade) traffic must pass through the proxy, but a
 * proxy that switches to a raw tunnel before the upstream agreed lets a client talk to an upstream
 * that never accepted the protocol — the "WebSocket smuggling" hole nginx and Envoy close by
 * waiting for the upstream's `101 Switching Protocols`. So the upgrade request is sent upstream as
 * an ordinary HTTP request carrying the upgrade headers; only a 101 turns the two sockets into a
 * byte tunnel (the 101 and whatever bytes followed it are relayed first), any other answer is
 * relayed to the client as a plain response on a closing connection, and a connect failure or
 * timeout answers 502 without saying why (internal errors never reach clients).
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { MAX_TIMER_DELAY_MS, requireInteger } from '@proxykit/core';
import { stripHopByHop } from './hop-by-hop.js';

/** What {@link proxyUpgrade} needs: the server's `upgrade` event arguments plus where to go. */
export interface UpgradeRequest {
  /** The upgrade request as the server's `upgrade` event gave it. */
  readonly req: IncomingMessage;
  /** The client socket from the `upgrade` event; owned by {@link proxyUpgrade} from now on. */
  readonly socket: Duplex;
  /** Bytes the client sent after the request head (the `upgrade` event's `head`). */
  readonly head: Buffer;
  /** Upstream origin, `http://host:port` or `https://host:port`; the path is the request's. */
  readonly origin: string;
  /**
   * Request headers to send upstream, already stripped of hop-by-hop names and carrying the
   * forwarding headers. `Connection: Upgrade`, `Upgrade` and any `Sec-WebSocket-*` header missing
   * here are taken from the client's request.
   */
  readonly headers: Record<string, string | string[]>;
  /** Most milliseconds to wait for the upstream TCP (and TLS) connection, an integer in [1, 2147483647]. */
  readonly connectTimeoutMs: number;
  /**
   * Most milliseconds to wait, once connected, for the upstream's answer, an integer in
   * [1, 2147483647] (default 30000).
   */
  readonly responseTimeoutMs?: number;
}

/** How an upgrade ended: a live tunnel, or anything else (relayed refusal, 502, client gone). */
export type UpgradeOutcome = 'tunnelled' | 'refused';

const OWNER = 'proxyUpgrade';
const DEFAULT_RESPONSE_TIMEOUT_MS = 30_000;
const MAX_EARLY_BYTES = 65_536;
const BAD_GATEWAY =
  'HTTP/1.1 502 Bad Gateway\r\n' +
  'content-type: text/plain; charset=utf-8\r\n' +
  'content-length: 12\r\n' +
  'connection: close\r\n' +
  '\r\n' +
  'Bad Gateway\n';

/**
 * Proxies one HTTP/1.1 Upgrade request to `origin`. Resolves `'tunnelled'` once the upstream's
 * 101 was relayed and the two sockets are piped both ways (an error or close on either side then
 * destroys the other); resolves `'refused'` when the upstream answered anything else (relayed to
 * the client, then the connection closes), when the upstream could not be reached in time (the
 * client gets `502 Bad Gateway`), or when the client went away first. Never rejects.
 */
export function proxyUpgrade(input: UpgradeRequest): Promise<UpgradeOutcome> {
  requireInteger(OWNER, 'connectTimeoutMs', input.connectTimeoutMs, 1, MAX_TIMER_DELAY_MS);
  const responseTimeoutMs = requireInteger(
    OWNER,
    'responseTimeoutMs',
    input.responseTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS,
    1,
    MAX_TIMER_DELAY_MS,
  );
  const origin = new URL(input.origin);
  if (origin.protocol !== 'http:' && origin.protocol !== 'https:') {
    throw new RangeError(`${OWNER}: origin must be an http: or https: URL, got ${input.origin}`);
  }
  const { req, socket: client, head } = input;

  return new Promise<UpgradeOutcome>((resolve) => {
    // A client already gone (it reset while the proxy decided) has nothing to ask the upstream.
    if (client.destroyed) {
      resolve('refused');
      return;
    }
    // The client is read while the upstream is asked, or its going away would go unnoticed. A
    // well-behaved client sends nothing before the 101; what it does send (up to a bound) is kept
    // for the upstream.
    const early: Buffer[] = head.length > 0 ? [head] : [];
    let earlyBytes = head.length;
    const keep = (chunk: Buffer): void => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > MAX_EARLY_BYTES) onClientGone();
    };
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: UpgradeOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.pause();
      client.off('data', keep);
      client.off('error', onClientGone);
      client.off('end', onClientGone);
      client.off('close', onClientGone);
      resolve(outcome);
    };

    const upstream = (origin.protocol === 'https:' ? httpsRequest : httpRequest)({
      protocol: origin.protocol,
      hostname: origin.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: origin.port === '' ? undefined : Number(origin.port),
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: upgradeHeaders(req, input.headers),
      agent: false,
    });

    // Until the upstream answers, the client going away abandons the upstream request.
    function onClientGone(): void {
      upstream.destroy();
      client.destroy();
      settle('refused');
    }
    const badGateway = (): void => {
      if (settled) return;
      settle('refused');
      upstream.destroy();
      client.on('error', () => undefined);
      client.end(BAD_GATEWAY, () => client.destroy());
    };
    const arm = (ms: number): void => {
      clearTimeout(timer);
      timer = setTimeout(badGateway, ms);
    };

    // Before anything can destroy the upstream request: its 'error' ("socket hang up" when it is
    // destroyed, for one) would otherwise be thrown.
    upstream.on('error', badGateway);
    client.on('data', keep);
    client.on('error', onClientGone);
    client.once('end', onClientGone);
    client.once('close', onClientGone);
    upstream.once('socket', (socket: Socket) => {
      if (!socket.connecting) {
        arm(responseTimeoutMs);
        return;
      }
      socket.once(origin.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
        if (!settled) arm(responseTimeoutMs);
      });
    });
    upstream.once(
      'upgrade',
      (res: IncomingMessage, upstreamSocket: Socket, upstreamHead: Buffer) => {
        if (settled) {
          upstreamSocket.destroy();
          return;
        }
        settle('tunnelled');
        tunnel(client, Buffer.concat(early), res, upstreamSocket, upstreamHead);
      },
    );
    upstream.once('response', (res: IncomingMessage) => {
      if (settled) {
        res.destroy();
        return;
      }
      settle('refused');
      relay(client, res);
    });

    arm(input.connectTimeoutMs);
    upstream.end();
  });
}

/** The upstream request's headers: the caller's, plus the upgrade headers of the client's request. */
function upgradeHeaders(
  req: IncomingMessage,
  headers: Record<string, string | string[]>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const present = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'upgrade') continue;
    out[name] = value;
    present.add(lower);
  }
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && name.startsWith('sec-websocket-') && !present.has(name)) {
      out[name] = value;
    }
  }
  out.connection = 'Upgrade';
  out.upgrade = req.headers.upgrade ?? 'websocket';
  return out;
}

/** Serialises a response head; names and values come from Node's parser, so they carry no CR/LF. */
function responseHead(status: number, message: string, pairs: readonly [string, string][]): string {
  let text = `HTTP/1.1 ${status} ${message}\r\n`;
  for (const [name, value] of pairs) text += `${name}: ${value}\r\n`;
  return text + '\r\n';
}

/** Relays the 101 and joins the sockets. */
function tunnel(
  client: Duplex,
  clientHead: Buffer,
  res: IncomingMessage,
  upstream: Socket,
  upstreamHead: Buffer,
): void {
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    pairs.push([res.rawHeaders[i] ?? '', res.rawHeaders[i + 1] ?? '']);
  }
  const clientSocket = client as Partial<Socket>;
  clientSocket.setTimeout?.(0);
  clientSocket.setNoDelay?.(true);
  upstream.setNoDelay(true);
  upstream.setTimeout(0);

  const teardown = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', teardown);
  client.once('close', teardown);
  upstream.on('error', teardown);
  upstream.once('close', teardown);

  client.write(responseHead(101, res.statusMessage ?? 'Switching Protocols', pairs));
  if (upstreamHead.length > 0) client.write(upstreamHead);
  if (clientHead.length > 0) upstream.write(clientHead);
  upstream.pipe(client);
  client.pipe(upstream);
}

/** Relays a non-101 answer as a plain response on a connection that then closes. */
function relay(client: Duplex, res: IncomingMessage): void {
  const headers = stripHopByHop(res.headers);
  const pairs: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) pairs.push([name, one]);
  }
  pairs.push(['connection', 'close']);
  const done = (): void => {
    res.destroy();
    client.destroy();
  };
  client.on('error', done);
  client.once('close', done);
  res.on('error', done);
  res.once('close', () => {
    // An upstream reset mid-body truncates the relayed answer rather than ending it cleanly.
    if (!res.complete) done();
  });
  client.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? '', pairs));
  // Without Content-Length the body is delimited by the close (RFC 9112 §6.3).
  client.once('finish', () => client.destroy());
  res.pipe(client);
}
