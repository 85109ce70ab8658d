// Why: the seed's control plane serves the workers' counters on a separate HTTP endpoint. The
// primary asks every worker for a snapshot when `/metrics` is scraped, adds them up and renders
// Prometheus' text exposition format (version 0.0.4) itself: the workers may be cluster workers
// or plain child processes, which prom-client's cluster aggregator does not cover, and the
// format for a handful of counters, gauges and one histogram is a few lines. `/healthz` answers
// 200 while the forwarder serves and 503 once it drains, for load balancers in front of it.

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress } from './forwarder-config.js';
import {
  CONNECT_LATENCY_BUCKETS,
  type CounterSnapshot,
  mergeSnapshots,
} from './worker-counters.js';

/** What `/metrics` renders besides the counters. */
export interface MetricsInfo {
  /** How connections reach workers: `single` (in-process), `reuseport` or `cluster`. */
  readonly distribution: string;
  /** Workers configured. */
  readonly workers: number;
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** Where to listen. */
  readonly listen: ListenAddress;
  /** Gathers one snapshot per live worker. */
  readonly collect: () => Promise<readonly CounterSnapshot[]>;
  /** Constant facts rendered as `l4_info` and `l4_workers`. */
  readonly info: MetricsInfo;
  /** True while the forwarder accepts connections (`/healthz` is 200), false once it drains. */
  readonly serving: () => boolean;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The address it listens on. */
  readonly address: AddressInfo;
  /** Stops it and closes its connections. */
  close(): Promise<void>;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Renders snapshots (one per worker) as Prometheus text. */
export function renderPrometheus(snapshots: readonly CounterSnapshot[], info: MetricsInfo): string {
  const total = mergeSnapshots(snapshots);
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  metric('l4_info', 'gauge', 'Forwarder build and worker distribution.');
  lines.push(
    `l4_info{distribution="${escapeLabel(info.distribution)}",node_version="${escapeLabel(process.version)}"} 1`,
  );
  metric('l4_workers', 'gauge', 'Worker processes configured.');
  lines.push(`l4_workers ${String(info.workers)}`);
  metric('l4_workers_reporting', 'gauge', 'Worker processes that answered this scrape.');
  lines.push(`l4_workers_reporting ${String(snapshots.length)}`);
  metric('l4_connections_active', 'gauge', 'Client connections open now.');
  lines.push(`l4_connections_active ${String(total.connectionsActive)}`);
  metric('l4_connections_total', 'counter', 'Client connections accepted.');
  lines.push(`l4_connections_total ${String(total.connectionsTotal)}`);
  metric('l4_bytes_total', 'counter', 'Bytes forwarded, by direction.');
  lines.push(`l4_bytes_total{direction="client_to_backend"} ${String(total.bytesFromClients)}`);
  lines.push(`l4_bytes_total{direction="backend_to_client"} ${String(total.bytesToClients)}`);
  metric('l4_connect_errors_total', 'counter', 'Failed backend connect attempts.');
  lines.push(`l4_connect_errors_total ${String(total.connectErrors)}`);
  metric('l4_no_backend_total', 'counter', 'Client connections closed with no reachable backend.');
  lines.push(`l4_no_backend_total ${String(total.noBackend)}`);
  const backends = Object.entries(total.backends).sort(([a], [b]) => a.localeCompare(b));
  metric('l4_backend_connections_total', 'counter', 'Client connections forwarded, by backend.');
  for (const [name, c] of backends) {
    lines.push(`l4_backend_connections_total{backend="${escapeLabel(name)}"} ${String(c.chosen)}`);
  }
  metric(
    'l4_backend_warm_connections_total',
    'counter',
    'Client connections given a pre-connected socket from the warm pool, by backend.',
  );
  for (const [name, c] of backends) {
    lines.push(
      `l4_backend_warm_connections_total{backend="${escapeLabel(name)}"} ${String(c.warm)}`,
    );
  }
  metric('l4_backend_connect_errors_total', 'counter', 'Failed connect attempts, by backend.');
  for (const [name, c] of backends) {
    lines.push(
      `l4_backend_connect_errors_total{backend="${escapeLabel(name)}"} ${String(c.connectErrors)}`,
    );
  }
  metric(
    'l4_connect_duration_seconds',
    'histogram',
    'Time from accepting a client to having its backend socket (≈0 from the warm pool).',
  );
  let cumulative = 0;
  CONNECT_LATENCY_BUCKETS.forEach((le, i) => {
    cumulative += total.connectLatencyCounts[i] ?? 0;
    lines.push(`l4_connect_duration_seconds_bucket{le="${String(le)}"} ${String(cumulative)}`);
  });
  cumulative += total.connectLatencyCounts[CONNECT_LATENCY_BUCKETS.length] ?? 0;
  lines.push(`l4_connect_duration_seconds_bucket{le="+Inf"} ${String(cumulative)}`);
  lines.push(`l4_connect_duration_seconds_sum ${String(total.connectLatencySum)}`);
  lines.push(`l4_connect_duration_seconds_count ${String(cumulative)}`);
  metric('l4_worker_connections_total', 'counter', 'Client connections accepted, by worker.');
  for (const s of snapshots) {
    lines.push(
      `l4_worker_connections_total{worker="${String(s.worker)}"} ${String(s.connectionsTotal)}`,
    );
  }
  metric('l4_worker_connections_active', 'gauge', 'Client connections open now, by worker.');
  for (const s of snapshots) {
    lines.push(
      `l4_worker_connections_active{worker="${String(s.worker)}"} ${String(s.connectionsActive)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Starts the `/metrics` and `/healthz` endpoint. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      const ok = options.serving();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'text/plain; charset=utf-8' })
        .end(ok ? 'ok\n' : 'draining\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    options.collect().then(
      (snapshots) => {
        res
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
          .end(renderPrometheus(snapshots, options.info));
      },
      (error: unknown) => {
        res
          .writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`metrics unavailable: ${String(error)}\n`);
      },
    );
  };
  const server: Server = createServer(handle);
  server.listen({ host: options.listen.host, port: options.listen.port });
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  return {
    address,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
