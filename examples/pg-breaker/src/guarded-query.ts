/**
 * Why: a database that goes down should cost its callers one fast, typed rejection, not a pile of
 * connection attempts each waiting its turn. This is the five-line shape to copy: node-postgres'
 * `pool.query` behind a circuit breaker, a retry and a timeout.
 *
 * The order is deliberate (first listed is outermost):
 * - the breaker is outermost, so a call that was retried and still failed counts as one failure,
 *   and an open breaker rejects before any attempt, backoff wait or connection is made;
 * - the retry is in the middle, so each attempt gets its own deadline and a slow attempt can be
 *   retried (an outer deadline would abort the retry along with it);
 * - the timeout is innermost: one deadline per attempt, so a caller waits at most
 *   `maxAttempts × timeoutMs` plus the backoff waits.
 *
 * pg's `pool.query` takes no AbortSignal, so `ctx.signal` has nowhere to go: at the deadline the
 * TimeoutLayer rejects the caller, while the socket side is bounded by the Pool's own settings —
 * `connectionTimeoutMillis` (without it a connect to a server that accepts but never answers waits
 * forever), `statement_timeout` (the server cancels the statement) and `query_timeout` (pg gives
 * up on the reply). Set them on the Pool you pass in; see `main.ts`.
 */
import { CircuitBreakerLayer, type CircuitBreakerLayerOptions } from '@proxykit/circuit-breaker';
import { stack, TimeoutLayer } from '@proxykit/core';
import { RetryLayer, type RetryLayerOptions } from '@proxykit/retry-budget';
import type { Pool, QueryResult, QueryResultRow } from 'pg';
import { pgClassifier } from './pg-classifier.js';

/** Options of {@link guardedQuery}; each one overrides the example's defaults. */
export interface GuardedQueryOptions {
  /** Breaker options (default: 5 failed calls in a row open it for 10 s; outcomes by `pgClassifier`). */
  readonly breaker?: CircuitBreakerLayerOptions;
  /** Retry options (default: 3 attempts, full-jitter backoff from 25 ms; outcomes by `pgClassifier`). */
  readonly retry?: RetryLayerOptions;
  /** Deadline of each attempt in ms (default 2000). */
  readonly timeoutMs?: number;
}

/** What {@link guardedQuery} returns. */
export interface GuardedQuery {
  /**
   * Runs `pool.query(text, values)` through the breaker, the retry and the timeout. Rejects with
   * `BrokenCircuitError` at once while the breaker is open, with `TimeoutError` when the last
   * attempt passed its deadline, or with pg's error.
   */
  readonly query: <R extends QueryResultRow = QueryResultRow>(
    text: string,
    values?: unknown[],
  ) => Promise<QueryResult<R>>;
  /** The breaker, for its state and events (`onStateChange`, `onReject`, …). */
  readonly breaker: CircuitBreakerLayer;
}

/** A pg query statement and its parameters: the request that travels through the layers. */
interface Statement {
  readonly text: string;
  readonly values: unknown[] | undefined;
}

/**
 * Wraps `pool.query` in a circuit breaker, a retry and a per-attempt timeout.
 *
 * Retries repeat the statement: keep them to reads and to writes that are safe to repeat, or pass
 * `retry: { maxAttempts: 1 }`.
 *
 * @example
 * ```ts
 * const pool = new Pool({ connectionString, connectionTimeoutMillis: 2_000, statement_timeout: 2_000 });
 * const { query, breaker } = guardedQuery(pool);
 * breaker.onStateChange(({ from, to }) => console.warn(`database breaker ${from} → ${to}`));
 * const { rows } = await query('SELECT * FROM users WHERE id = $1', [42]);
 * ```
 */
export function guardedQuery(pool: Pool, options: GuardedQueryOptions = {}): GuardedQuery {
  // The five lines. Both layers judge outcomes by SQLSTATE, so a bad statement is not a failure.
  const breaker = new CircuitBreakerLayer({ classifier: pgClassifier, ...options.breaker });
  const guarded = stack(
    breaker, // outermost: one verdict per call; when open, nothing below runs
    new RetryLayer({ classifier: pgClassifier, ...options.retry }),
    new TimeoutLayer({ timeoutMs: options.timeoutMs ?? 2_000 }), // innermost: per attempt
  ).wrap((q: Statement) => pool.query<QueryResultRow>(q.text, q.values));

  return {
    breaker,
    query: <R extends QueryResultRow>(text: string, values?: unknown[]) =>
      guarded({ text, values }) as Promise<QueryResult<R>>,
  };
}
