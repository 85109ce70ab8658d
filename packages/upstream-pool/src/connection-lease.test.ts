import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { ConnectionLease } from './connection-lease.js';
import { FakeFactory, type FakeResource } from './fake-factory.testkit.js';
import type { DestroyEvent } from './pool-events.js';
import { Upstream } from './upstream.js';
import { UpstreamPool, type UpstreamPoolOptions } from './upstream-pool.js';

const db = Upstream.parse('tcp://10.0.0.1:5432');

function setup(options: Partial<UpstreamPoolOptions<FakeResource>> = {}): {
  factory: FakeFactory;
  pool: UpstreamPool<FakeResource>;
} {
  const clock = new VirtualClock();
  const factory = new FakeFactory(clock);
  const pool = new UpstreamPool<FakeResource>({ factory, clock, ...options });
  return { factory, pool };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ConnectionLease', () => {
  it('ends a lease once: a second release or destroy is a no-op', async () => {
    const { pool, factory } = setup();
    const lease = await pool.acquire(db);
    expect(lease.released).toBe(false);
    lease.release();
    lease.release();
    lease.destroy();
    expect(lease.released).toBe(true);
    expect(pool.stats(db)).toMatchObject({ idle: 1, leased: 0, destroyed: 0 });
    expect(factory.resources[0]?.alive).toBe(true);
  });

  it('a stale lease cannot release the resource from under its next holder', async () => {
    const { pool } = setup({ max: 1 });
    const first = await pool.acquire(db);
    first.release();
    const second = await pool.acquire(db);
    expect(second.resource).toBe(first.resource);
    first.release();
    first.destroy();
    expect(second.released).toBe(false);
    expect(pool.stats(db)).toMatchObject({ idle: 0, leased: 1, destroyed: 0 });
    let third: ConnectionLease<FakeResource> | undefined;
    void pool.acquire(db).then((lease) => (third = lease));
    await flush();
    expect(third).toBeUndefined(); // nothing was given back twice
    second.release();
    await flush();
    expect(third?.resource).toBe(first.resource);
  });

  it('destroy() destroys the resource and reports the reason', async () => {
    const { pool, factory } = setup();
    const events: DestroyEvent[] = [];
    pool.onDestroy((event) => events.push(event));
    const lease = await pool.acquire(db);
    const reason = new Error('protocol error');
    lease.destroy(reason);
    expect(factory.resources[0]?.alive).toBe(false);
    expect(events).toEqual([{ upstream: db, reason: 'destroyed', error: reason }]);
    expect(pool.stats(db)).toMatchObject({ size: 0, destroyed: 1 });
  });

  it('releases with `using` and `await using`', async () => {
    const { pool } = setup();
    {
      await using lease = await pool.acquire(db);
      expect(lease.released).toBe(false);
      expect(pool.stats(db).leased).toBe(1);
    }
    expect(pool.stats(db)).toMatchObject({ idle: 1, leased: 0 });
    let escaped: ConnectionLease<FakeResource> | undefined;
    try {
      using lease = await pool.acquire(db);
      escaped = lease;
      throw new Error('boom');
    } catch {
      // the lease was released on the way out
    }
    expect(escaped?.released).toBe(true);
    expect(pool.stats(db)).toMatchObject({ idle: 1, leased: 0 });
  });

  it('destroys instead of pooling what recycle refuses', async () => {
    const clock = new VirtualClock();
    const factory = new FakeFactory(clock);
    let reusable = false;
    const pool = new UpstreamPool({
      clock,
      factory: {
        create: (u: Upstream, s: AbortSignal) => factory.create(u, s),
        destroy: (r: FakeResource) => {
          factory.destroy(r);
        },
        recycle: () => reusable,
      },
    });
    (await pool.acquire(db)).release();
    expect(pool.stats(db)).toMatchObject({ idle: 0, destroyed: 1 });
    reusable = true;
    (await pool.acquire(db)).release();
    expect(pool.stats(db)).toMatchObject({ idle: 1, destroyed: 1 });
  });
});
