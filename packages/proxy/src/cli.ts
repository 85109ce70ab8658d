#!/usr/bin/env node
/**
 * Why: `proxykit-proxy` runs the reverse proxy as configured by the `REVERSE_PROXY_*` environment
 * of the original design (no flags, no config file: what a container or systemd unit passes).
 * Configuration is checked before anything starts; a bad value prints the one line of its
 * ConfigError to stderr and exits 1, without a stack trace, so the operator sees the variable,
 * the value and what is allowed. Without `REVERSE_PROXY_UPSTREAMS` it starts the two embedded demo
 * upstreams and says so in one log line, so `pnpm start` shows the proxy working at once. The
 * process model (one process, or a cluster of workers sharing the port) and signal handling are in
 * `workers.ts`.
 */
import cluster from 'node:cluster';
import { createLogger } from './access-log.js';
import { ConfigError } from './config-error.js';
import {
  DEMO_FAIL_VARIABLE,
  type DemoUpstreams,
  demoFailingFromEnv,
  startDemoUpstreams,
} from './demo-upstreams.js';
import { configFromEnv } from './env-config.js';
import type { ProxyConfig } from './proxy-config.js';

/** Reads and checks the configuration, or prints the one-line error and exits 1. */
function loadConfig(): { config: ProxyConfig; failing: number[] } {
  try {
    const config = configFromEnv(process.env, { ignoredVariables: [DEMO_FAIL_VARIABLE] });
    const failing = demoFailingFromEnv(process.env);
    return { config, failing };
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const { config, failing } = loadConfig();
  const logger = createLogger(config.logLevel);
  // Loaded once the configuration is known to be good, so a bad one fails fast.
  const { runPrimary, runSingle, runWorker, workerInit } = await import('./workers.js');

  const init = workerInit(process.env);
  if (init !== undefined) {
    await runWorker({ config, logger, init });
    return;
  }

  let demo: DemoUpstreams | undefined;
  let upstreams = config.upstreams;
  if (upstreams.length === 0) {
    demo = await startDemoUpstreams({ failing });
    upstreams = demo.urls;
    const failingNote =
      failing.length === 0 ? '' : ` (demo upstream ${failing.join(', ')} failing from the start)`;
    logger.info(
      { demo: demo.urls, failing },
      `demo mode: REVERSE_PROXY_UPSTREAMS is not set, so two demo upstreams were started at ` +
        `${demo.urls.join(' and ')}${failingNote}; make one fail from the status page or with ` +
        `${DEMO_FAIL_VARIABLE}=1 or 2`,
    );
  } else if (failing.length > 0) {
    logger.warn(`${DEMO_FAIL_VARIABLE} is ignored: REVERSE_PROXY_UPSTREAMS is set`);
  }

  const options = {
    config: { ...config, upstreams },
    logger,
    ...(demo === undefined ? {} : { demo }),
  };
  if (config.workers > 1 && cluster.isPrimary) {
    await runPrimary(options);
  } else {
    await runSingle(options);
  }
}

main().catch((error: unknown) => {
  // Start-up failures (a port in use, an upstream URL the library refuses) end in one line too.
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`proxykit-proxy: ${message}\n`);
  process.exit(1);
});
