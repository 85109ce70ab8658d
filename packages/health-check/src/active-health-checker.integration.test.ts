/**
 * The active checker against real servers on 127.0.0.1, on real time with short intervals.
 * Every wait is a poll with a deadline, so a broken checker fails the test instead of hanging it.
 */
import { once } from 'node:events';
import { Agent, createServer, get, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { type Clock, systemClock, TimeoutError } from '@proxykit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { ActiveHealthChecker } from './active-health-checker.js';
import type { HealthChangeEvent, ProbeEvent } from './health-events.js';
import { HttpProbe } from './http-probe.js';
import { TcpProbe } from './tcp-probe.js';

const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function close(server: Server | TcpServer): Promise<void> {
  if ('closeAllConnections' in server) server.closeAllConnections();
  return new Promise((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

async function listen(server: Server | TcpServer, port = 0): Promise<number> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => (server.listening ? close(server) : undefined));
  return (server.address() as { port: number }).port;
}

async function waitFor(predicate: () => boolean, what: string, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The system clock, counting the timers it has pending. */
function trackingClock(): { clock: Clock; pending: () => number } {
  let pending = 0;
  const clock: Clock = {
    now: () => systemClock.now(),
    setTimer(callback, delayMs) {
      pending++;
      let live = true;
      const done = (): void => {
        if (live) {
          live = false;
          pending--;
        }
      };
      const timer = systemClock.setTimer(() => {
        done();
        callback();
      }, delayMs);
      return {
        cancel: () => {
          done();
          timer.cancel();
        },
        ref: () => {
          timer.ref();
        },
        unref: () => {
          timer.unref();
        },
      };
    },
  };
  return { clock, pending: () => pending };
}

/** A server that accepts connections, reads them, and never answers. */
async function silentServer(): Promise<{ port: number; sockets: Socket[]; closed: () => number }> {
  const sockets: Socket[] = [];
  let closed = 0;
  const server = createTcpServer((socket) => {
    sockets.push(socket);
    socket.resume();
    socket.on('close', () => closed++);
  });
  const port = await listen(server);
  cleanup.push(() => {
    for (const s of sockets) s.destroy();
  });
  return { port, sockets, closed: () => closed };
}

/**
 * The active handles and requests a checker could leave behind (sockets, timers, connects, DNS,
 * TLS, writes). Listening servers and the test runner's IPC pipes are not the checker's; other
 * tests' servers may still be closing while this one runs.
 */
const resourcesOf = (): string[] =>
  process
    .getActiveResourcesInfo()
    .filter((r) => !['TCPServerWrap', 'PipeWrap', 'CloseReq'].includes(r))
    .sort();

describe('ActiveHealthChecker on real servers', () => {
  it('marks an HTTP upstream unhealthy after exactly unhealthyThreshold failed probes and back after exactly healthyThreshold', async () => {
    let failing = false;
    let served500 = 0;
    let served200SinceRecovery = 0;
    let recovered = false;
    const server = createServer((_req, res) => {
      if (failing) served500++;
      else if (recovered) served200SinceRecovery++;
      res.statusCode = failing ? 500 : 200;
      res.end(failing ? 'down' : 'ok');
    });
    const port = await listen(server);
    const other = createServer((_req, res) => res.end('ok'));
    const otherPort = await listen(other);
    const checker = new ActiveHealthChecker({
      probe: new HttpProbe({ path: '/healthz' }),
      intervalMs: 20,
      timeoutMs: 500,
      jitter: 0.2,
      unhealthyThreshold: 3,
      healthyThreshold: 2,
      targets: [
        { name: 'flaky', host: '127.0.0.1', port },
        { name: 'steady', host: '127.0.0.1', port: otherPort },
      ],
    });
    cleanup.push(() => checker[Symbol.asyncDispose]());
    const seen: { event: HealthChangeEvent; served: number }[] = [];
    checker.onHealthChange((event) => {
      seen.push({ event, served: event.to === 'unhealthy' ? served500 : served200SinceRecovery });
    });
    checker.start();
    await waitFor(() => checker.statusOf('flaky')?.lastResult === 'success', 'a first good probe');

    failing = true;
    await waitFor(() => seen.length === 1, 'the upstream to be marked unhealthy');
    expect(seen[0]?.event).toMatchObject({
      upstream: 'flaky',
      from: 'healthy',
      to: 'unhealthy',
      reason: 'unhealthy-threshold',
    });
    expect(seen[0]?.served).toBe(3); // exactly unhealthyThreshold 500s were served when it flipped
    expect(checker.isAvailable({ name: 'flaky' })).toBe(false);
    expect(checker.isAvailable({ name: 'steady' })).toBe(true);
    expect(String(checker.statusOf('flaky')?.lastError)).toContain('status 500');

    failing = false;
    recovered = true;
    await waitFor(() => seen.length === 2, 'the upstream to come back');
    expect(seen[1]?.event).toMatchObject({
      upstream: 'flaky',
      from: 'unhealthy',
      to: 'healthy',
      reason: 'healthy-threshold',
    });
    expect(seen[1]?.served).toBe(2); // exactly healthyThreshold 200s
    expect(checker.isAvailable({ name: 'flaky' })).toBe(true);
  });

  it('marks a TCP upstream unhealthy when its server closes and healthy when it listens again on the same port', async () => {
    let accepted = 0;
    const connections = (socket: Socket): void => {
      accepted++;
      socket.resume();
    };
    let server = createTcpServer(connections);
    const port = await listen(server);
    const checker = new ActiveHealthChecker({
      probe: new TcpProbe(),
      intervalMs: 20,
      timeoutMs: 500,
      unhealthyThreshold: 2,
      healthyThreshold: 2,
      targets: [{ name: 'tcp', host: '127.0.0.1', port }],
    });
    cleanup.push(() => checker[Symbol.asyncDispose]());
    const events: HealthChangeEvent[] = [];
    checker.onHealthChange((e) => events.push(e));
    checker.start();
    await waitFor(() => accepted >= 1, 'a first probe');
    await close(server);
    await waitFor(() => events.length === 1, 'the closed server to be marked unhealthy');
    expect(checker.statusOf('tcp')).toMatchObject({ state: 'unhealthy', consecutiveFailures: 2 });
    expect(checker.statusOf('tcp')?.lastError).toMatchObject({ code: 'ECONNREFUSED' });

    server = createTcpServer(connections);
    const before = accepted;
    await listen(server, port);
    await waitFor(() => events.length === 2, 'the reopened server to be marked healthy');
    expect(events.map((e) => `${e.from}→${e.to}`)).toEqual([
      'healthy→unhealthy',
      'unhealthy→healthy',
    ]);
    expect(accepted - before).toBe(2);
  });

  it('cuts a probe that hangs at its timeout and closes its connection', async () => {
    const server = createServer(() => undefined); // reads the request, never responds
    const serverSockets: Socket[] = [];
    server.on('connection', (s) => serverSockets.push(s));
    const port = await listen(server);
    const checker = new ActiveHealthChecker({
      probe: new HttpProbe(),
      intervalMs: 5_000,
      timeoutMs: 100,
      jitter: 0,
      unhealthyThreshold: 1,
      targets: [{ name: 'hang', host: '127.0.0.1', port }],
    });
    cleanup.push(() => checker[Symbol.asyncDispose]());
    const probes: ProbeEvent[] = [];
    checker.onProbe((e) => probes.push(e));
    checker.start();
    await waitFor(() => probes.length === 1, 'the probe to be cut');
    expect(probes[0]?.ok).toBe(false);
    expect(probes[0]?.error).toBeInstanceOf(TimeoutError);
    expect(probes[0]?.durationMs).toBeGreaterThanOrEqual(99);
    expect(probes[0]?.durationMs).toBeLessThan(600);
    expect(checker.isAvailable('hang')).toBe(false);
    await waitFor(
      () => serverSockets.length === 1 && serverSockets[0]?.destroyed === true,
      'the probe connection to close',
    );
  });

  it('counts a server that accepts and never answers as a failure', async () => {
    const silent = await silentServer();
    const checker = new ActiveHealthChecker({
      probe: new HttpProbe(),
      intervalMs: 30,
      timeoutMs: 60,
      jitter: 0,
      unhealthyThreshold: 2,
      targets: [{ name: 'silent', host: '127.0.0.1', port: silent.port }],
    });
    cleanup.push(() => checker[Symbol.asyncDispose]());
    checker.start();
    await waitFor(
      () => checker.statusOf('silent')?.state === 'unhealthy',
      'the silent server to be unhealthy',
    );
    expect(checker.statusOf('silent')?.lastError).toBeInstanceOf(TimeoutError);
    expect(silent.sockets.length).toBe(2); // one connection per probe, never two at once
    await waitFor(() => silent.closed() === 2, 'both probe connections to close');
  });

  it('leaves no timer, socket or other active handle behind once disposed, even with probes in flight', async () => {
    const web = createServer((_req, res) => res.end('ok'));
    const webPort = await listen(web);
    const tcp = createTcpServer((s) => s.resume());
    const tcpPort = await listen(tcp);
    const silent = await silentServer();
    const baseline = resourcesOf();
    const { clock, pending } = trackingClock();
    const checker = new ActiveHealthChecker({
      probe: new HttpProbe(),
      intervalMs: 20,
      timeoutMs: 5_000, // the silent server's probe is still in flight when we dispose
      jitter: 0.5,
      clock,
      targets: [
        { name: 'web', host: '127.0.0.1', port: webPort },
        { name: 'silent', host: '127.0.0.1', port: silent.port },
      ],
    });
    checker.add({ name: 'tcp', host: '127.0.0.1', port: tcpPort }, { probe: new TcpProbe() });
    checker.start();
    await waitFor(
      () => (checker.statusOf('web')?.consecutiveSuccesses ?? 0) >= 3,
      'a few probe rounds',
    );
    expect(silent.sockets.length).toBe(1);
    expect(pending()).toBe(1); // one timer for the whole checker
    await checker[Symbol.asyncDispose]();
    expect(pending()).toBe(0);
    expect(silent.sockets[0]?.destroyed === true || silent.closed() <= 1).toBe(true);
    // Client sockets are closed by the time asyncDispose resolves; the servers' ends follow.
    await waitFor(() => silent.closed() === 1, 'the in-flight probe connection to close');
    await waitFor(
      () => resourcesOf().join() === baseline.join(),
      `active resources back to ${baseline.join()} (now ${resourcesOf().join()})`,
    );
  });

  it('does not hold up request traffic: probes use their own connections, and isAvailable never waits', async () => {
    const silent = await silentServer();
    const web = createServer((_req, res) => res.end('ok'));
    const webPort = await listen(web);
    const checker = new ActiveHealthChecker({
      probe: new HttpProbe(),
      intervalMs: 50,
      timeoutMs: 2_000,
      targets: Array.from({ length: 20 }, (_, i) => ({
        name: `s${i}`,
        host: '127.0.0.1',
        port: silent.port,
      })),
    });
    cleanup.push(() => checker[Symbol.asyncDispose]());
    checker.start();
    await waitFor(() => silent.sockets.length === 20, 'every probe to hang');
    // Ordinary traffic through a pooled agent (one socket) goes through while the probes hang.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => {
      agent.destroy();
    });
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        get({ host: '127.0.0.1', port: webPort, agent }, resolve).on('error', reject);
      });
      res.resume();
      await once(res, 'end');
      expect(checker.isAvailable(`s${i}`)).toBe(true); // still healthy: nothing has timed out
    }
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(silent.sockets.length).toBe(20); // no probe started a second connection meanwhile
  });
});
