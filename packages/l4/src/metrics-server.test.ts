import { describe, expect, it } from 'vitest';
import { renderPrometheus, startMetricsServer } from './metrics-server.js';
import { mergeSnapshots, WorkerCounters } from './worker-counters.js';

function workers() {
  const one = new WorkerCounters(1, ['a:1', 'b:2']);
  one.connectionsTotal = 3;
  one.connectionsActive = 1;
  one.bytesFromClients = 100;
  one.backend('a:1').chosen = 3;
  one.backend('a:1').warm = 2;
  one.observeConnect(0.00005);
  one.observeConnect(0.003);
  const two = new WorkerCounters(2, ['a:1', 'b:2']);
  two.connectionsTotal = 4;
  two.connectErrors = 2;
  two.noBackend = 1;
  two.backend('b:2').chosen = 3;
  two.backend('a:1').connectErrors = 2;
  two.observeConnect(20);
  return [one.snapshot(0, 7), two.snapshot(50, 0)];
}

describe('worker counters and their Prometheus text', () => {
  it('adds the workers up', () => {
    const total = mergeSnapshots(workers());
    expect(total).toMatchObject({
      connectionsTotal: 7,
      connectionsActive: 1,
      bytesFromClients: 150,
      bytesToClients: 7,
      connectErrors: 2,
      noBackend: 1,
      backends: {
        'a:1': { chosen: 3, warm: 2, connectErrors: 2 },
        'b:2': { chosen: 3, warm: 0, connectErrors: 0 },
      },
    });
    expect(total.connectLatencyCounts.reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('renders counters, per-backend and per-worker series and a cumulative histogram', () => {
    const text = renderPrometheus(workers(), { distribution: 'cluster', workers: 2 });
    const lines = text.split('\n');
    for (const line of [
      'l4_workers 2',
      'l4_workers_reporting 2',
      'l4_connections_total 7',
      'l4_connections_active 1',
      'l4_bytes_total{direction="client_to_backend"} 150',
      'l4_bytes_total{direction="backend_to_client"} 7',
      'l4_connect_errors_total 2',
      'l4_no_backend_total 1',
      'l4_backend_connections_total{backend="a:1"} 3',
      'l4_backend_warm_connections_total{backend="a:1"} 2',
      'l4_backend_connect_errors_total{backend="a:1"} 2',
      'l4_connect_duration_seconds_bucket{le="0.0001"} 1',
      'l4_connect_duration_seconds_bucket{le="0.005"} 2',
      'l4_connect_duration_seconds_bucket{le="10"} 2',
      'l4_connect_duration_seconds_bucket{le="+Inf"} 3',
      'l4_connect_duration_seconds_count 3',
      'l4_worker_connections_total{worker="1"} 3',
      'l4_worker_connections_total{worker="2"} 4',
      '# TYPE l4_connect_duration_seconds histogram',
    ]) {
      expect(lines).toContain(line);
    }
    expect(text).toMatch(/^l4_info\{distribution="cluster",node_version="v[\d.]+"\} 1$/m);
    // Every sample line is `name{labels} value` with a numeric value.
    for (const line of lines.filter((l) => l !== '' && !l.startsWith('#'))) {
      expect(line).toMatch(/^[a-z_][a-z0-9_]*(\{[^}]*\})? [\d.e+-]+$/);
    }
  });

  it('serves /metrics and /healthz', async () => {
    let serving = true;
    const server = await startMetricsServer({
      listen: { host: '127.0.0.1', port: 0 },
      collect: () => Promise.resolve(workers()),
      info: { distribution: 'reuseport', workers: 2 },
      serving: () => serving,
    });
    try {
      const base = `http://127.0.0.1:${String(server.address.port)}`;
      const metrics = await fetch(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await metrics.text()).toContain('l4_connections_total 7');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      serving = false;
      expect((await fetch(`${base}/healthz`)).status).toBe(503);
      expect((await fetch(`${base}/other`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
