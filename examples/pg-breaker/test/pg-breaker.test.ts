/**
 * Why: the example's claim — a stopped database costs callers a fast BrokenCircuitError instead
 * of a connection attempt each, and the breaker closes by itself once the database is back — is
 * only worth something if it holds against a real PostgreSQL server and the real driver.
 */
import type { OutcomeEvent, StateChangeEvent } from '@proxykit/circuit-breaker';
import { BrokenCircuitError, isBrokenCircuitError, isTimeoutError } from '@proxykit/core';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { guardedQuery } from '../src/guarded-query.js';
import { startPostgresServer, type PostgresServer } from './postgres-server.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every 10 ms until it holds; fails after `timeoutMs`. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function codeOf(error: unknown): unknown {
  return (error as { code?: unknown }).code;
}

describe('pg behind breaker + retry + timeout, against a real PostgreSQL server', () => {
  let server: PostgresServer;
  let pool: Pool;
  const idleErrors: unknown[] = [];

  beforeAll(async () => {
    server = await startPostgresServer();
    pool = new Pool({
      connectionString: server.connectionString,
      max: 4,
      connectionTimeoutMillis: 2_000,
      statement_timeout: 2_000,
      query_timeout: 3_000,
    });
    // The server closing an idle connection is reported here; unheard, it would crash the worker.
    pool.on('error', (error) => idleErrors.push(error));
  }, 60_000);

  afterAll(async () => {
    await pool.end();
    await server.destroy();
  }, 60_000);

  it('queries succeed through the guarded query', async () => {
    const { query, breaker } = guardedQuery(pool);
    const { rows } = await query<{ ok: number }>('SELECT 1 AS ok');
    expect(rows).toEqual([{ ok: 1 }]);
    const sum = await query<{ sum: number }>('SELECT $1::int + $2::int AS sum', [20, 22]);
    expect(sum.rows[0]?.sum).toBe(42);
    expect(breaker.state).toBe('closed');
  });

  it('a mistake in the statement is neither retried nor counted against the database', async () => {
    const { query, breaker } = guardedQuery(pool, { breaker: { failureThreshold: 1 } });
    const sent = vi.spyOn(pool, 'query');
    try {
      for (let i = 0; i < 3; i++) {
        await expect(query('SELEC 1')).rejects.toMatchObject({ code: '42601' }); // syntax_error
      }
      expect(sent).toHaveBeenCalledTimes(3); // one attempt each: no retry
      expect(breaker.state).toBe('closed');
    } finally {
      sent.mockRestore();
    }
  });

  it('opens when the database stops, rejects fast without touching pg, and closes once it is back', async () => {
    const failureThreshold = 3;
    const resetTimeoutMs = 300;
    const maxAttempts = 2;
    const { query, breaker } = guardedQuery(pool, {
      breaker: { failureThreshold, resetTimeoutMs },
      retry: { maxAttempts, baseDelayMs: 5 },
      timeoutMs: 2_000,
    });
    const transitions: string[] = [];
    breaker.onStateChange(({ from, to, reason }: StateChangeEvent) => {
      transitions.push(`${from}→${to} (${reason})`);
    });
    const failures: OutcomeEvent[] = [];
    breaker.onFailure((event) => failures.push(event));
    const sent = vi.spyOn(pool, 'query');

    try {
      expect((await query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);

      // The database goes down. Each call fails with ECONNREFUSED after its retry, and counts once.
      await server.stop();
      sent.mockClear();
      for (let i = 0; i < failureThreshold; i++) {
        const error: unknown = await query('SELECT 1').catch((e: unknown) => e);
        expect(codeOf(error)).toBe('ECONNREFUSED');
      }
      expect(failures.map((f) => [f.outcome, codeOf(f.error)])).toEqual(
        Array.from({ length: failureThreshold }, () => ['upstream', 'ECONNREFUSED']),
      );
      expect(sent).toHaveBeenCalledTimes(failureThreshold * maxAttempts);
      expect(breaker.state).toBe('open');
      expect(transitions).toEqual(['closed→open (tripped)']);

      // Open: every call is rejected at once, and pg is not called.
      sent.mockClear();
      const rejectionMs: number[] = [];
      for (let i = 0; i < 50; i++) {
        const started = performance.now();
        const error: unknown = await query('SELECT 1').catch((e: unknown) => e);
        rejectionMs.push(performance.now() - started);
        expect(error).toBeInstanceOf(BrokenCircuitError);
        const { retryAfterMs } = error as BrokenCircuitError;
        expect(retryAfterMs).toBeGreaterThan(0);
        expect(retryAfterMs).toBeLessThanOrEqual(resetTimeoutMs);
      }
      expect(sent).not.toHaveBeenCalled();
      // Microseconds each; a busy machine may preempt the odd call, so not every one is asserted.
      rejectionMs.sort((a, b) => a - b);
      expect(rejectionMs[25]).toBeLessThan(1); // the median
      expect(rejectionMs[45]).toBeLessThan(5); // 90 % of them

      // After resetTimeoutMs one probe goes through; the database is still down, so it re-opens.
      await waitFor('the reset timeout', () => breaker.isAvailable, 2_000);
      expect(codeOf(await query('SELECT 1').catch((e: unknown) => e))).toBe('ECONNREFUSED');
      expect(sent).toHaveBeenCalledTimes(maxAttempts); // the probe, with its retry
      expect(breaker.state).toBe('open');

      // The database comes back (same port, same data). The next probe succeeds and closes it.
      await server.start();
      await waitFor('the reset timeout', () => breaker.isAvailable, 2_000);
      expect((await query<{ ok: number }>('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      expect(breaker.state).toBe('closed');
      expect(transitions).toEqual([
        'closed→open (tripped)',
        'open→half-open (reset-timeout-elapsed)',
        'half-open→open (probe-failed)',
        'open→half-open (reset-timeout-elapsed)',
        'half-open→closed (probes-succeeded)',
      ]);
      for (let i = 0; i < 5; i++) {
        expect((await query<{ n: number }>('SELECT $1::int AS n', [i])).rows).toEqual([{ n: i }]);
      }
      // The idle connection the shutdown closed was reported on the pool, not thrown.
      expect(idleErrors.map(codeOf)).toContain('57P01'); // admin_shutdown
    } finally {
      sent.mockRestore();
    }
  });

  it('a server that accepts but never answers: the timeout rejects the caller, pg frees the socket', async () => {
    // A TCP listener that never speaks: the connect succeeds, pg's startup message is never answered.
    const held: Socket[] = [];
    const hung = createServer((socket) => {
      held.push(socket);
      socket.on('error', () => undefined);
    });
    hung.listen(0, '127.0.0.1');
    await once(hung, 'listening');
    const hungPool = new Pool({
      host: '127.0.0.1',
      port: (hung.address() as AddressInfo).port,
      user: 'postgres',
      connectionTimeoutMillis: 1_000, // without it, both connects below would wait forever
    });
    hungPool.on('error', () => undefined);
    try {
      const { query, breaker } = guardedQuery(hungPool, {
        breaker: { failureThreshold: 1 },
        retry: { maxAttempts: 2, baseDelayMs: 1 },
        timeoutMs: 100,
      });
      const started = performance.now();
      const error: unknown = await query('SELECT 1').catch((e: unknown) => e);
      const elapsed = performance.now() - started;
      expect(isTimeoutError(error)).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(195); // two attempts of 100 ms
      expect(elapsed).toBeLessThan(700); // well before pg's own connect timeout
      expect(breaker.state).toBe('open'); // a timeout is a failure
      expect(isBrokenCircuitError(await query('SELECT 1').catch((e: unknown) => e))).toBe(true);
      // The caller is gone, but pg still holds both connection attempts until its own timeout.
      expect(hungPool.totalCount).toBe(2);
      await waitFor('pg to drop the connection attempts', () => hungPool.totalCount === 0, 3_000);
    } finally {
      for (const socket of held) socket.destroy();
      hung.close();
      await hungPool.end();
    }
  });
});
