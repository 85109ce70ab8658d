/**
 * Why: nginx and HAProxy are the native limit every Node proxy is measured against, and socat
 * the plain native TCP relay. Each runs from a configuration written to its own temporary
 * directory, on a free loopback port, in the foreground (so it is our child and stops with the
 * suite), with one worker process or one thread: one core's worth, like one Node process.
 * nginx runs without its master process (one process that is the worker), so that killing it
 * cannot orphan a worker. Settings follow each project's documented way to keep upstream
 * connections alive; request caps per connection are lifted so that every peer keeps its
 * connections for the whole run, as Node's servers do.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackDir } from './cleanup.js';
import { freePort, type ServerProcess, startNativeServer } from './server-process.js';

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `proxykit-bench-${name}-`));
  trackDir(dir);
  return dir;
}

/** nginx 1 worker as an HTTP reverse proxy with an upstream keep-alive pool. */
export async function startNginx(nginx: string, upstreamPort: number): Promise<ServerProcess> {
  const dir = tempDir('nginx');
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
master_process off;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream backend {
    server 127.0.0.1:${String(upstreamPort)};
    keepalive 128;
    keepalive_requests 100000000;
  }
  server {
    listen 127.0.0.1:${String(port)};
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`,
  );
  return startNativeServer(
    'nginx',
    nginx,
    ['-p', dir, '-c', conf, '-e', `${dir}/error.log`],
    port,
    () => {
      rmSync(dir, { recursive: true, force: true });
    },
  );
}

/** HAProxy, one thread, in `http` mode (keep-alive both sides, connection reuse) or `tcp` mode. */
export async function startHaproxy(
  haproxy: string,
  mode: 'http' | 'tcp',
  backendPort: number,
): Promise<ServerProcess> {
  const dir = tempDir(`haproxy-${mode}`);
  const port = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  const httpOptions = mode === 'http' ? '  option http-keep-alive\n  http-reuse always\n' : '';
  writeFileSync(
    cfg,
    `global
  nbthread 1
  maxconn 4000
defaults
  mode ${mode}
  timeout connect 5s
  timeout client 120s
  timeout server 120s
${httpOptions}frontend fe
  bind 127.0.0.1:${String(port)}
  default_backend be
backend be
  server s1 127.0.0.1:${String(backendPort)}
`,
  );
  return startNativeServer(`haproxy-${mode}`, haproxy, ['-db', '-f', cfg], port, () => {
    rmSync(dir, { recursive: true, force: true });
  });
}

/** socat relaying each connection to `backendPort` (a process per connection, its defaults). */
export async function startSocat(socat: string, backendPort: number): Promise<ServerProcess> {
  const port = await freePort();
  return startNativeServer(
    'socat',
    socat,
    [
      `TCP-LISTEN:${String(port)},bind=127.0.0.1,reuseaddr,fork`,
      `TCP:127.0.0.1:${String(backendPort)}`,
    ],
    port,
  );
}
