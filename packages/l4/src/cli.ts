#!/usr/bin/env node
// Why: `proxykit-l4` runs the forwarder as configured by the `L4_*` environment (the seed's
// "cargo run --release" with its defaults: listen on 127.0.0.1:8081, telemetry on :8082). A bad
// variable stops start-up with one line naming it (exit 1, no stack trace); SIGTERM or SIGINT
// drains open connections for up to L4_SHUTDOWN_GRACE_SECONDS and exits 0.

import { createForwarder, type Forwarder } from './forwarder.js';
import { formatHostPort, L4ConfigError, loadForwarderConfigFromEnv } from './forwarder-config.js';

function log(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
}

function fail(message: string): void {
  process.stderr.write(`proxykit-l4: ${message}\n`);
  process.exitCode = 1;
}

async function main(): Promise<void> {
  let forwarder: Forwarder;
  try {
    forwarder = createForwarder(loadForwarderConfigFromEnv(process.env));
  } catch (error) {
    if (
      error instanceof L4ConfigError ||
      error instanceof RangeError ||
      error instanceof TypeError
    ) {
      fail(error.message);
      return;
    }
    throw error;
  }
  const config = forwarder.config;
  try {
    await forwarder.listen();
  } catch (error) {
    fail(`cannot start: ${error instanceof Error ? error.message : String(error)}`);
    await forwarder.close();
    return;
  }
  const address = forwarder.address;
  const metrics = forwarder.metricsAddress;
  log({
    msg: 'listening',
    listen: address === undefined ? undefined : formatHostPort(address),
    metrics: metrics === undefined ? undefined : formatHostPort(metrics),
    backends: config.backends,
    workers: config.workers,
    distribution: forwarder.distribution,
    node: process.version,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log({ msg: 'draining', signal, graceSeconds: config.shutdownGraceSeconds });
    forwarder.shutdown(config.shutdownGraceSeconds * 1_000).then(
      () => {
        log({ msg: 'stopped' });
        process.exit(0);
      },
      (error: unknown) => {
        fail(`shutdown failed: ${String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
}

void main();
