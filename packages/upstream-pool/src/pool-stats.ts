/**
 * Why: a pool that cannot be seen cannot be sized. These are the gauges and counters every pool
 * worth running exposes (HikariCP's active/idle/pending/total, Envoy's cx_active and
 * cx_connect_fail, generic-pool's size/available/borrowed/pending), for one upstream or summed
 * over the pool, ready for a Prometheus exporter.
 */

/** A snapshot of a pool, or of one upstream in it. */
export interface PoolStats {
  /** Resources alive plus creations in flight: what counts against `max`. */
  readonly size: number;
  /** Resources idle in the pool. */
  readonly idle: number;
  /** Resources leased now. */
  readonly leased: number;
  /** Acquires waiting for a resource. */
  readonly waiting: number;
  /** Creations in flight (connecting, or backing off between attempts). */
  readonly pending: number;
  /** Resources created since the start. */
  readonly created: number;
  /** Resources destroyed since the start. */
  readonly destroyed: number;
  /** Acquires that timed out since the start. */
  readonly timeouts: number;
  /** Factory attempts that failed since the start. */
  readonly failures: number;
}
