// Why: the seed's telemetry is per-thread counters that nothing else writes, read and summed by
// the control plane. In Node the worker is a process, so each keeps plain numbers of its own
// (no locks, nothing shared, a few additions per connection and none per chunk), takes a
// JSON-able snapshot when the primary asks over IPC, and the primary adds the snapshots up
// (`mergeSnapshots`) before rendering them as Prometheus text.

/** Upper bounds of the connect latency histogram's buckets, in seconds (Prometheus `le`). */
export const CONNECT_LATENCY_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** One backend's counters. */
export interface BackendCounters {
  /** Connections forwarded to it (its share of the balancer's choices). */
  chosen: number;
  /** Of those, served by a pre-connected socket from the warm pool. */
  warm: number;
  /** Connects to it that failed (refused, timed out, reset, breaker open). */
  connectErrors: number;
}

/** A worker's counters at one moment, as plain data (what travels over IPC). */
export interface CounterSnapshot {
  /** Worker number (1-based; 0 for an in-process forwarder). */
  readonly worker: number;
  /** Process id of the worker. */
  readonly pid: number;
  /** Client connections open now. */
  readonly connectionsActive: number;
  /** Client connections accepted since start. */
  readonly connectionsTotal: number;
  /** Bytes read from clients and written to backends. */
  readonly bytesFromClients: number;
  /** Bytes read from backends and written to clients. */
  readonly bytesToClients: number;
  /** Failed backend connects (each attempt). */
  readonly connectErrors: number;
  /** Client connections closed because no backend could be reached. */
  readonly noBackend: number;
  /** Per-backend counters, keyed by `host:port`. */
  readonly backends: Readonly<Record<string, BackendCounters>>;
  /** Connect latency histogram: counts per bucket of {@link CONNECT_LATENCY_BUCKETS} (not cumulative), then one for +Inf. */
  readonly connectLatencyCounts: readonly number[];
  /** Sum of connect latencies, in seconds. */
  readonly connectLatencySum: number;
}

/**
 * The counters of one worker. Fields are public numbers: the forwarder adds to them directly.
 * Byte counts of open connections are added at snapshot time by the caller, from the sockets.
 */
export class WorkerCounters {
  /** Client connections open now. */
  connectionsActive = 0;
  /** Client connections accepted. */
  connectionsTotal = 0;
  /** Bytes from clients, of connections already closed. */
  bytesFromClients = 0;
  /** Bytes to clients, of connections already closed. */
  bytesToClients = 0;
  /** Failed backend connects. */
  connectErrors = 0;
  /** Connections closed for want of a reachable backend. */
  noBackend = 0;
  /** Sum of connect latencies in seconds. */
  connectLatencySum = 0;
  readonly #latency = new Float64Array(CONNECT_LATENCY_BUCKETS.length + 1);
  readonly #backends = new Map<string, BackendCounters>();

  /**
   * @param worker worker number reported in snapshots
   * @param backends the backend names, so every backend shows up even before its first connection
   */
  constructor(
    readonly worker: number,
    backends: Iterable<string> = [],
  ) {
    for (const name of backends) this.backend(name);
  }

  /** The counters of backend `name` (created on first use). */
  backend(name: string): BackendCounters {
    let counters = this.#backends.get(name);
    if (counters === undefined) {
      counters = { chosen: 0, warm: 0, connectErrors: 0 };
      this.#backends.set(name, counters);
    }
    return counters;
  }

  /** Records one connect latency, in seconds. */
  observeConnect(seconds: number): void {
    this.connectLatencySum += seconds;
    const buckets = CONNECT_LATENCY_BUCKETS;
    let i = 0;
    while (i < buckets.length && seconds > (buckets[i] ?? Infinity)) i++;
    this.#latency[i] = (this.#latency[i] ?? 0) + 1;
  }

  /** A snapshot; `liveFromClients`/`liveToClients` are the bytes of connections still open. */
  snapshot(liveFromClients = 0, liveToClients = 0): CounterSnapshot {
    const backends: Record<string, BackendCounters> = {};
    for (const [name, counters] of this.#backends) backends[name] = { ...counters };
    return {
      worker: this.worker,
      pid: process.pid,
      connectionsActive: this.connectionsActive,
      connectionsTotal: this.connectionsTotal,
      bytesFromClients: this.bytesFromClients + liveFromClients,
      bytesToClients: this.bytesToClients + liveToClients,
      connectErrors: this.connectErrors,
      noBackend: this.noBackend,
      backends,
      connectLatencyCounts: Array.from(this.#latency),
      connectLatencySum: this.connectLatencySum,
    };
  }
}

/** Adds snapshots up (`worker` and `pid` of the result are 0). */
export function mergeSnapshots(snapshots: readonly CounterSnapshot[]): CounterSnapshot {
  const backends: Record<string, BackendCounters> = {};
  const latency = new Array<number>(CONNECT_LATENCY_BUCKETS.length + 1).fill(0);
  let connectionsActive = 0;
  let connectionsTotal = 0;
  let bytesFromClients = 0;
  let bytesToClients = 0;
  let connectErrors = 0;
  let noBackend = 0;
  let connectLatencySum = 0;
  for (const s of snapshots) {
    connectionsActive += s.connectionsActive;
    connectionsTotal += s.connectionsTotal;
    bytesFromClients += s.bytesFromClients;
    bytesToClients += s.bytesToClients;
    connectErrors += s.connectErrors;
    noBackend += s.noBackend;
    connectLatencySum += s.connectLatencySum;
    s.connectLatencyCounts.forEach((count, i) => {
      latency[i] = (latency[i] ?? 0) + count;
    });
    for (const [name, counters] of Object.entries(s.backends)) {
      const sum = (backends[name] ??= { chosen: 0, warm: 0, connectErrors: 0 });
      sum.chosen += counters.chosen;
      sum.warm += counters.warm;
      sum.connectErrors += counters.connectErrors;
    }
  }
  return {
    worker: 0,
    pid: 0,
    connectionsActive,
    connectionsTotal,
    bytesFromClients,
    bytesToClients,
    connectErrors,
    noBackend,
    backends,
    connectLatencyCounts: latency,
    connectLatencySum,
  };
}
