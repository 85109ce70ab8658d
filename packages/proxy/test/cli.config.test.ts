import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { configFromEnv } from '../src/env-config.js';
import { killAll, spawnCli } from './cli.helpers.js';

afterEach(killAll);

/** The message configFromEnv gives for `env`. */
function messageFor(env: Record<string, string>): string {
  try {
    configFromEnv(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('proxykit-proxy configuration errors', () => {
  it('prints the one-line message of a bad value and exits 1', async () => {
    const env = { REVERSE_PROXY_MAX_IN_FLIGHT: 'abc' };
    const cli = spawnCli(env);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toBe(`${messageFor(env)}\n`);
    expect(cli.stderr()).toMatch(/^REVERSE_PROXY_MAX_IN_FLIGHT="abc" is not valid: expected /);
    expect(cli.stdout()).toBe('');
  });

  it('names an unknown REVERSE_PROXY_ variable and the closest known one', async () => {
    const env = { REVERSE_PROXY_UPSTREAM: 'http://127.0.0.1:9' };
    const cli = spawnCli(env);
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toBe(`${messageFor(env)}\n`);
    expect(cli.stderr()).toContain('REVERSE_PROXY_UPSTREAMS');
    expect(cli.stdout()).toBe('');
  });

  it('rejects a bad REVERSE_PROXY_DEMO_FAIL the same way', async () => {
    const cli = spawnCli({ REVERSE_PROXY_DEMO_FAIL: '3' });
    expect(await cli.exited).toEqual({ code: 1, signal: null });
    expect(cli.stderr()).toBe(
      'REVERSE_PROXY_DEMO_FAIL="3" is not valid: expected the number of a demo upstream, 1 or 2\n',
    );
    expect(cli.stdout()).toBe('');
  });

  it(
    'reports a start-up failure (port in use) in one line and exits 1',
    async () => {
      // The port is held by a plain listener of this process (no second CLI to wait for), and the
      // CLI gets an upstream so that it goes straight to listening; everything waits on events.
      const holder = createServer();
      holder.listen(0, '127.0.0.1');
      await once(holder, 'listening');
      try {
        const { port } = holder.address() as AddressInfo;
        const cli = spawnCli({
          REVERSE_PROXY_LISTEN: `127.0.0.1:${String(port)}`,
          REVERSE_PROXY_UPSTREAMS: 'http://127.0.0.1:9',
        });
        expect((await cli.exited).code).toBe(1);
        expect(cli.stderr()).toMatch(/^proxykit-proxy: .*EADDRINUSE.*\n$/);
        expect(cli.stderr().split('\n')).toHaveLength(2);
      } finally {
        holder.close();
        await once(holder, 'close');
      }
    },
    // Starting the CLI from its TypeScript source can take many seconds on a loaded machine.
    60_000,
  );
});
