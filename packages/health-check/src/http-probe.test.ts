import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { TimeoutError } from '@proxykit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { isHealthProbeError } from './health-check-errors.js';
import { HttpProbe } from './http-probe.js';

const servers: (Server | TcpServer)[] = [];

async function serve(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ port: number; server: Server }> {
  const server = createServer(handler).listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, server };
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const target = (port: number) => ({ name: 'api', host: '127.0.0.1', port });
const signal = (): AbortSignal => new AbortController().signal;

async function waitFor(predicate: () => boolean, ms = 2_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function sockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}

describe('HttpProbe', () => {
  it('passes on 200–399 by default and fails on 4xx/5xx with the status', async () => {
    let status = 200;
    const { port } = await serve((_req, res) => {
      res.statusCode = status;
      res.end('x');
    });
    const probe = new HttpProbe();
    for (status of [200, 204, 302, 399]) {
      await expect(probe.probe(target(port), signal())).resolves.toBeUndefined();
    }
    for (status of [404, 500, 503]) {
      const error: unknown = await probe.probe(target(port), signal()).catch((e: unknown) => e);
      expect(isHealthProbeError(error)).toBe(true);
      expect(error).toMatchObject({ failure: 'status', status, category: 'upstream' });
      expect(String(error)).toContain(`status ${status}, expected 200-399`);
    }
  });

  it('accepts exactly the statuses and inclusive ranges it is given, or a predicate', async () => {
    let status = 200;
    const { port } = await serve((_req, res) => {
      res.statusCode = status;
      res.end();
    });
    const listed = new HttpProbe({ expectedStatuses: [200, { from: 500, to: 501 }] });
    const verdicts: Record<number, boolean> = {};
    for (status of [200, 204, 500, 501, 502]) {
      verdicts[status] = await listed.probe(target(port), signal()).then(
        () => true,
        () => false,
      );
    }
    expect(verdicts).toEqual({ 200: true, 204: false, 500: true, 501: true, 502: false });
    const predicate = new HttpProbe({ expectedStatuses: (s) => s === 418 });
    status = 418;
    await expect(predicate.probe(target(port), signal())).resolves.toBeUndefined();
  });

  it('sends method, path, Host override and its own connection (Connection: close)', async () => {
    const seen: IncomingMessage[] = [];
    const { port } = await serve((req, res) => {
      seen.push(req);
      res.end();
    });
    await new HttpProbe({
      method: 'head',
      path: '/healthz?deep=1',
      hostHeader: 'api.internal',
    }).probe(target(port), signal());
    await new HttpProbe({ headers: { authorization: 'Bearer t' } }).probe(target(port), signal());
    expect(seen.map((r) => [r.method, r.url, r.headers.host, r.headers.connection])).toEqual([
      ['HEAD', '/healthz?deep=1', 'api.internal', 'close'],
      ['GET', '/', `127.0.0.1:${port}`, 'close'],
    ]);
    expect(seen[1]?.headers['user-agent']).toBe('proxykit-health-check');
    expect(seen[1]?.headers.authorization).toBe('Bearer t');
  });

  it('matches the body by substring or pattern within maxBodyBytes', async () => {
    let body = '{"status":"ok"}';
    const { port } = await serve((_req, res) => res.end(body));
    await expect(new HttpProbe({ body: '"ok"' }).probe(target(port), signal())).resolves.toBe(
      undefined,
    );
    await expect(
      new HttpProbe({ body: /"status":\s*"ok"/g }).probe(target(port), signal()),
    ).resolves.toBe(undefined);
    body = '{"status":"degraded"}';
    const error: unknown = await new HttpProbe({ body: '"ok"' })
      .probe(target(port), signal())
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'body', status: 200 });
    body = `${'x'.repeat(100)}ok`;
    await expect(
      new HttpProbe({ body: 'ok', maxBodyBytes: 100 }).probe(target(port), signal()),
    ).rejects.toMatchObject({ failure: 'body' });
    await expect(
      new HttpProbe({ body: 'ok', maxBodyBytes: 102 }).probe(target(port), signal()),
    ).resolves.toBeUndefined();
  });

  it('reads multi-byte text split across chunks correctly', async () => {
    const { port } = await serve((_req, res) => {
      const bytes = Buffer.from('état: prêt');
      res.write(bytes.subarray(0, 2)); // splits the two-byte "é"
      setTimeout(() => res.end(bytes.subarray(2)), 5);
    });
    await expect(new HttpProbe({ body: 'état: prêt' }).probe(target(port), signal())).resolves.toBe(
      undefined,
    );
  });

  it('stops reading an endless body: at the match, or after maxBodyBytes', async () => {
    const { port } = await serve((_req, res) => {
      res.write('ok');
      const timer = setInterval(() => res.write('x'.repeat(1024)), 1);
      res.on('close', () => {
        clearInterval(timer);
      });
    });
    await expect(new HttpProbe({ body: 'ok' }).probe(target(port), signal())).resolves.toBe(
      undefined,
    );
    await expect(new HttpProbe({ maxBodyBytes: 4096 }).probe(target(port), signal())).resolves.toBe(
      undefined,
    );
    await expect(
      new HttpProbe({ body: 'never', maxBodyBytes: 4096 }).probe(target(port), signal()),
    ).rejects.toMatchObject({ failure: 'body' });
  });

  it('is cut when its signal aborts: a server that accepts and never answers fails at the timeout', async () => {
    const accepted: Socket[] = [];
    const closed: Socket[] = [];
    const silent = createTcpServer((socket) => {
      accepted.push(socket);
      socket.resume(); // read the request, never answer
      socket.on('close', () => closed.push(socket));
    }).listen(0, '127.0.0.1');
    servers.push(silent);
    await once(silent, 'listening');
    const { port } = silent.address() as { port: number };
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => {
      controller.abort(new TimeoutError(80));
    }, 80);
    const error: unknown = await new HttpProbe()
      .probe(target(port), controller.signal)
      .catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(elapsed).toBeGreaterThanOrEqual(75);
    expect(elapsed).toBeLessThan(1_000);
    expect(accepted).toHaveLength(1);
    await waitFor(() => closed.length === 1); // the probe's socket was closed, not left open
  });

  it('fails with the connect error when nothing listens, and with a TLS error for https on a plain port', async () => {
    const { port, server } = await serve((_req, res) => res.end());
    await expect(
      new HttpProbe().probe({ ...target(port), scheme: 'https' }, signal()),
    ).rejects.toThrow();
    servers.splice(servers.indexOf(server), 1);
    await new Promise((resolve) => server.close(resolve));
    await expect(new HttpProbe().probe(target(port), signal())).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    await expect(
      new HttpProbe().probe({ ...target(port), scheme: 'gopher' }, signal()),
    ).rejects.toThrow(TypeError);
  });

  it('leaves no socket open once it has settled', async () => {
    const { port } = await serve((req, res) => {
      res.statusCode = req.url === '/bad' ? 500 : 200;
      res.end('body');
    });
    const baseline = sockets();
    await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        new HttpProbe({ path: i % 2 === 0 ? '/' : '/bad' }).probe(target(port), signal()),
      ),
    );
    // Client sockets are closed when the probes settle; the server's side follows within a tick.
    await waitFor(() => sockets() <= baseline);
  });

  it('validates its options with errors naming the option', () => {
    expect(() => new HttpProbe({ path: 'healthz' })).toThrow(/path must start with "\/"/);
    expect(() => new HttpProbe({ method: 'GE T' })).toThrow(/method must be an HTTP token/);
    expect(() => new HttpProbe({ maxBodyBytes: 0 })).toThrow(
      'HttpProbe: maxBodyBytes must be an integer in [1, 16777216], got 0',
    );
    expect(() => new HttpProbe({ expectedStatuses: [] })).toThrow(TypeError);
    expect(() => new HttpProbe({ expectedStatuses: [700] })).toThrow(RangeError);
    expect(() => new HttpProbe({ expectedStatuses: [{ from: 300, to: 200 }] })).toThrow(
      /expectedStatuses\[\]\.to must be an integer in \[300, 599\]/,
    );
    expect(() => new HttpProbe({ body: 42 as never })).toThrow(TypeError);
    expect(() => new HttpProbe({ port: 0 })).toThrow(RangeError);
  });
});
