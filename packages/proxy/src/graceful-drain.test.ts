import { once } from 'node:events';
import {
  Agent,
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionTracker } from './graceful-drain.js';

interface Harness {
  readonly server: Server;
  readonly tracker: ConnectionTracker;
  readonly port: number;
  /** Requests the handler holds until `release()`. */
  readonly held: ServerResponse[];
  release(): void;
}

const cleanups: (() => void | Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server whose `/slow` requests wait for `release()`, `/stream` sends headers then waits, others answer at once. */
async function start(): Promise<Harness> {
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    if (req.url === '/slow') {
      held.push(res);
      return;
    }
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first ');
      held.push(res);
      return;
    }
    res.end('ok');
  });
  const tracker = new ConnectionTracker(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as { port: number };
  return {
    server,
    tracker,
    port,
    held,
    release() {
      for (const res of held.splice(0)) res.end('done');
    },
  };
}

function keepAliveAgent(): Agent {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  cleanups.push(() => {
    agent.destroy();
  });
  return agent;
}

interface Answer {
  readonly status: number;
  readonly connection: string | undefined;
  readonly body: string;
}

function get(port: number, path: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
}

function connectOutcome(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code ?? 'error');
    });
  });
}

describe('ConnectionTracker', () => {
  it('follows connections and requests in flight', async () => {
    const h = await start();
    const agent = keepAliveAgent();
    expect(await get(h.port, '/', agent)).toMatchObject({ status: 200, body: 'ok' });
    await until(() => h.tracker.connections === 1);
    expect(h.tracker.inFlight).toBe(0);
    const slow = get(h.port, '/slow', agent);
    await until(() => h.tracker.inFlight === 1);
    h.release();
    await expect(slow).resolves.toMatchObject({ status: 200, body: 'done' });
    await until(() => h.tracker.inFlight === 0);
    expect(h.tracker.draining).toBe(false);
  });

  it('closes idle keep-alive connections at once and resolves with nothing forced', async () => {
    const h = await start();
    const agent = keepAliveAgent();
    await Promise.all([get(h.port, '/', agent), get(h.port, '/', agent)]);
    await until(() => h.tracker.connections === 2);
    const closed = closeServer(h.server);
    await expect(h.tracker.drain(10_000)).resolves.toEqual({ forced: 0 });
    expect(h.tracker.connections).toBe(0);
    await closed;
  });

  it('lets requests in flight finish with Connection: close, and refuses new connections', async () => {
    const h = await start();
    const agent = keepAliveAgent();
    // One connection that is idle, three with a slow request each.
    const idleAgent = keepAliveAgent();
    await get(h.port, '/', idleAgent);
    await until(() => h.tracker.connections === 1);
    const idle = Object.values(idleAgent.freeSockets).flat()[0] as Socket;
    const idleClosed = once(idle, 'close');
    const slow = [1, 2, 3].map(() => get(h.port, '/slow', agent));
    await until(() => h.held.length === 3);
    expect(h.tracker.connections).toBe(4);

    const closed = closeServer(h.server);
    let drained = false;
    const drain = h.tracker.drain(10_000).then((result) => {
      drained = true;
      return result;
    });
    await idleClosed;
    expect(await connectOutcome(h.port)).toBe('ECONNREFUSED');
    expect(drained).toBe(false);

    h.release();
    const answers = await Promise.all(slow);
    for (const answer of answers) {
      expect(answer).toEqual({ status: 200, connection: 'close', body: 'done' });
    }
    await expect(drain).resolves.toEqual({ forced: 0 });
    await closed;
  });

  it('closes a connection whose response had started once that response ends', async () => {
    const h = await start();
    const agent = keepAliveAgent();
    const streaming = get(h.port, '/stream', agent);
    await until(() => h.held.length === 1);
    const drain = h.tracker.drain(10_000);
    h.release();
    // The headers went out before the drain, so they say keep-alive; the socket closes anyway.
    await expect(streaming).resolves.toMatchObject({ status: 200, body: 'first done' });
    await expect(drain).resolves.toEqual({ forced: 0 });
  });

  it('closes a raw HTTP/1.1 connection after its in-flight response, sent with Connection: close', async () => {
    const h = await start();
    const socket = connect(h.port, '127.0.0.1');
    cleanups.push(() => {
      socket.destroy();
    });
    await once(socket, 'connect');
    socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => h.held.length === 1);
    h.tracker.beginDrain();
    h.tracker.beginDrain();
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    const ended = once(socket, 'close');
    h.release();
    await ended;
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text.toLowerCase()).toContain('connection: close');
    await expect(h.tracker.drain(1_000)).resolves.toEqual({ forced: 0 });
  });

  it('destroys what is still open at the deadline and counts it', async () => {
    const h = await start();
    const agent = keepAliveAgent();
    const stuck = [1, 2].map((): Promise<unknown> =>
      get(h.port, '/slow', agent).catch((e: unknown) => e),
    );
    await until(() => h.held.length === 2);
    const closed = closeServer(h.server);
    await expect(h.tracker.drain(100)).resolves.toEqual({ forced: 2 });
    expect(h.tracker.connections).toBe(0);
    for (const outcome of await Promise.all(stuck)) {
      expect(outcome).toMatchObject({ code: 'ECONNRESET' });
    }
    await closed;
    // The drain is settled once; asking again returns the same result.
    await expect(h.tracker.drain(5)).resolves.toEqual({ forced: 2 });
  });

  it('keeps upgraded connections open until the deadline', async () => {
    const h = await start();
    const tunnels: Socket[] = [];
    h.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n',
      );
      socket.pipe(socket);
      tunnels.push(socket);
    });
    await new Promise((resolve) => setImmediate(resolve));
    const client = connect(h.port, '127.0.0.1');
    cleanups.push(() => {
      client.destroy();
    });
    await once(client, 'connect');
    client.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    await until(() => tunnels.length === 1);
    const drain = h.tracker.drain(300);
    let echoed = '';
    client.setEncoding('utf8');
    client.on('data', (chunk: string) => (echoed += chunk));
    client.write('still here');
    await until(() => echoed.includes('still here'));
    await expect(drain).resolves.toEqual({ forced: 1 });
  });

  it('follows requests that a checkContinue listener takes', async () => {
    const h = await start();
    const held: ServerResponse[] = [];
    h.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      res.writeContinue();
      req.resume();
      held.push(res);
    });
    await new Promise((resolve) => setImmediate(resolve));
    const answer = new Promise<Answer>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: h.port,
          method: 'POST',
          agent: keepAliveAgent(),
          headers: { expect: '100-continue', 'content-length': '2' },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body });
          });
        },
      );
      req.on('continue', () => req.end('hi'));
      req.on('error', reject);
    });
    await until(() => held.length === 1);
    expect(h.tracker.inFlight).toBe(1);
    const drain = h.tracker.drain(10_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const res of held) res.end('continued');
    await expect(answer).resolves.toEqual({ status: 200, connection: 'close', body: 'continued' });
    await expect(drain).resolves.toEqual({ forced: 0 });
  });

  it('resolves at once when nothing is connected, and validates graceMs', async () => {
    const h = await start();
    expect(() => h.tracker.drain(-1)).toThrow(RangeError);
    expect(() => h.tracker.drain(1.5)).toThrow(/graceMs/);
    await expect(h.tracker.drain(0)).resolves.toEqual({ forced: 0 });
  });
});
