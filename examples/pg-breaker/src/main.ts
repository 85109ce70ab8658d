/**
 * Why: the breaker is easiest to believe when you watch it. This demo queries the database in
 * `DATABASE_URL` twice a second and prints each outcome and every breaker transition; stop the
 * database while it runs (`pg_ctl stop`, `systemctl stop postgresql`, `docker stop …`) and start
 * it again to see the breaker open, reject at once, probe and close.
 *
 * Environment: DATABASE_URL (required), DEMO_ROUNDS (queries to make, default 40).
 */
import { isBrokenCircuitError, isTimeoutError } from '@proxykit/core';
import { Pool } from 'pg';
import { guardedQuery } from './guarded-query.js';

const url = process.env.DATABASE_URL;
if (url === undefined || url === '') {
  console.error('DATABASE_URL is not set: e.g. DATABASE_URL=postgresql://user@localhost/db');
  process.exit(1);
}
const rounds = Number(process.env.DEMO_ROUNDS ?? 40);

const pool = new Pool({
  connectionString: url,
  max: 5,
  connectionTimeoutMillis: 2_000, // bounds the connect: without it, a hung server hangs the call
  statement_timeout: 2_000, // the server cancels a statement running longer (SQLSTATE 57014)
  query_timeout: 3_000, // pg stops waiting for a reply the server never sends
});
// An idle connection that the server closes (a restart, say) is reported on the pool; without a
// listener, that 'error' event would crash the process.
pool.on('error', (error) => {
  console.log(`  (idle connection closed by the server: ${error.message})`);
});

const { query, breaker } = guardedQuery(pool, {
  breaker: { failureThreshold: 3, resetTimeoutMs: 2_000 },
  timeoutMs: 2_000,
});
breaker.onStateChange(({ from, to, reason }) => {
  console.log(`breaker ${from} → ${to} (${reason})`);
});

console.log(`querying the database ${rounds} times, every 500 ms: stop it and start it meanwhile`);
for (let round = 1; round <= rounds; round++) {
  const started = performance.now();
  const took = (): string => `${(performance.now() - started).toFixed(1)} ms`;
  try {
    const { rows } = await query<{ now: Date }>('SELECT now() AS now');
    console.log(`${round}: ok, server time ${rows[0]?.now.toISOString() ?? '?'} (${took()})`);
  } catch (error) {
    if (isBrokenCircuitError(error)) {
      console.log(
        `${round}: rejected by the open breaker, no query sent (${took()}); ` +
          `next probe in ${Math.ceil(error.retryAfterMs)} ms`,
      );
    } else if (isTimeoutError(error)) {
      console.log(`${round}: timed out (${took()})`);
    } else {
      const code = (error as { code?: unknown }).code;
      const message = error instanceof Error ? error.message : String(error);
      console.log(
        `${round}: failed: ${typeof code === 'string' ? `${code} ` : ''}${message} (${took()})`,
      );
    }
  }
  if (round < rounds) await new Promise((resolve) => setTimeout(resolve, 500));
}
await pool.end();
