/**
 * Why: core's classifier knows network error codes, not SQLSTATEs, so to it every error the
 * server sends back is an unrecognised `upstream` failure — a typo in a query or a unique
 * violation would be retried and would trip the breaker, the database's version of a breaker
 * that trips on 404s. This classifier reads the SQLSTATE of pg's `DatabaseError`: a server that is
 * shutting down, out of connections or cancelling a statement at its deadline is a failure;
 * a mistake in the statement is the client's, and is neither retried nor counted.
 */
import { defaultClassifier, type OutcomeClass, type OutcomeClassifier } from '@proxykit/core';
import { DatabaseError } from 'pg';

const BY_SQLSTATE: Readonly<Record<string, OutcomeClass>> = {
  '57014': 'timeout', // query_canceled: statement_timeout passed
  '57P01': 'upstream', // admin_shutdown
  '57P02': 'upstream', // crash_shutdown
  '57P03': 'upstream', // cannot_connect_now: starting up or shutting down
  '40001': 'transient', // serialization_failure: repeating the statement is the remedy
  '40P01': 'transient', // deadlock_detected: likewise
};

const BY_CLASS: Readonly<Record<string, OutcomeClass>> = {
  '08': 'upstream', // connection exception
  '53': 'upstream', // insufficient resources: too many connections, disk full, out of memory
  '58': 'upstream', // system error: I/O
  '28': 'security', // invalid authorization
  XX: 'permanent', // internal error
};

/**
 * The outcome class of a SQLSTATE: connection, resource and shutdown errors are `upstream`,
 * `57014` (a statement cancelled by `statement_timeout`) is `timeout`, serialization failures and
 * deadlocks are `transient`, authorization errors `security`, internal errors `permanent`, and
 * everything else (syntax, constraint and data errors) is `client`.
 */
export function classifySqlState(sqlState: string): OutcomeClass {
  return BY_SQLSTATE[sqlState] ?? BY_CLASS[sqlState.slice(0, 2)] ?? 'client';
}

/**
 * Core's `defaultClassifier`, except that a pg `DatabaseError` is judged by its SQLSTATE with
 * {@link classifySqlState}. Network errors (ECONNREFUSED, ECONNRESET…) and pg's own errors
 * without a SQLSTATE ("Connection terminated unexpectedly") stay with the default: failures.
 */
export const pgClassifier: OutcomeClassifier = Object.freeze({
  classifyError(error: unknown, signal?: AbortSignal): OutcomeClass {
    if (signal?.aborted !== true && error instanceof DatabaseError && error.code !== undefined) {
      return classifySqlState(error.code);
    }
    return defaultClassifier.classifyError(error, signal);
  },
  classifyResult(result: unknown): OutcomeClass {
    return defaultClassifier.classifyResult(result);
  },
});
