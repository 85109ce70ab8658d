import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closed, connectTo, startServer, type TestServer, waitFor } from '../test/net-helpers.js';
import { IdleSweep, idleSweepFor } from './idle-sweep.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A connected loopback pair: the client socket and the server's side of it. */
async function pair(): Promise<{ client: Socket; server: Socket; host: TestServer }> {
  const host = await startServer((socket) => {
    socket.on('data', () => undefined);
  });
  cleanups.push(() => host.close());
  const client = await connectTo(host.port);
  cleanups.push(() => {
    client.destroy();
  });
  client.on('data', () => undefined);
  await waitFor(() => host.sockets.size === 1);
  const [server] = [...host.sockets];
  return { client, server: server!, host };
}

describe('IdleSweep', () => {
  it('rejects a timeout that is not positive', () => {
    expect(() => new IdleSweep(0)).toThrow(RangeError);
    expect(() => new IdleSweep(Number.NaN)).toThrow(/timeoutMs/);
  });

  it('closes both sockets of a pair on which nothing moved for the timeout', async () => {
    const { client, server } = await pair();
    const sweep = new IdleSweep(100);
    const started = Date.now();
    sweep.add(client, server);
    await Promise.all([closed(client), closed(server)]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(sweep.size).toBe(0);
  });

  it('keeps a pair open while bytes move, either way', async () => {
    const { client, server } = await pair();
    const sweep = new IdleSweep(600);
    sweep.add(client, server);
    // Traffic every 50 ms for more than a timeout, alternating directions.
    for (let i = 0; i < 16; i++) {
      const [from, to] = i % 2 === 0 ? [client, server] : [server, client];
      from.write('x');
      await once(to, 'data');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(client.destroyed || server.destroyed).toBe(false);
    await Promise.all([closed(client), closed(server)]);
  });

  it('forgets removed pairs and stops its timer when none is left', async () => {
    const { client, server } = await pair();
    const sweep = new IdleSweep(50);
    sweep.add(client, server);
    sweep.remove(client);
    expect(sweep.size).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(client.destroyed || server.destroyed).toBe(false);
  });

  it('shares one sweep per timeout value in a process', () => {
    expect(idleSweepFor(1_234)).toBe(idleSweepFor(1_234));
    expect(idleSweepFor(1_234)).not.toBe(idleSweepFor(4_321));
  });
});
