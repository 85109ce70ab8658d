/**
 * Why: each server under load is a small Node program started by `server-process.ts`. They all
 * read their options the same way (one JSON argument), report their ports to the suite over IPC
 * once listening, and close when asked (SIGTERM) or when the suite is gone (IPC disconnect), so
 * none is left running. `--cpu-prof` profiles are written on that orderly exit.
 */

import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';

/** A started server: its ports (`port` is the main one) and how to close it. */
export interface Served {
  readonly ports: Readonly<Record<string, number>> & { readonly port: number };
  readonly close: () => Promise<void>;
}

/** How long closing may take before the process exits anyway. */
const CLOSE_TIMEOUT_MS = 2_000;

/**
 * Runs `start` with the options the suite passed (the JSON of `argv[2]`; each entry states
 * their type) and reports its ports to the parent.
 */
export function serve(start: (options: unknown) => Promise<Served>): void {
  // tsx turns source maps on, which makes every `error.stack` parse the maps of the built
  // packages: a cost the servers would not pay in production (the proxies format a stack for
  // each request aborted when a load generator closes its connections), so it is turned off.
  process.setSourceMapsEnabled(false);
  const options: unknown = JSON.parse(process.argv[2] ?? '{}');
  start(options).then(
    (served) => {
      let closing = false;
      const close = (): void => {
        if (closing) return;
        closing = true;
        setTimeout(() => process.exit(0), CLOSE_TIMEOUT_MS).unref();
        served.close().then(
          () => process.exit(0),
          () => process.exit(0),
        );
      };
      process.once('SIGTERM', close);
      process.once('SIGINT', close);
      process.once('disconnect', close);
      process.send?.({ ports: served.ports });
    },
    (error: unknown) => {
      console.error(error);
      // The suite reports the last line of stderr as the reason.
      console.error(`could not start: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}

/** The port a listening server is bound to. */
export function portOf(address: ReturnType<Server['address']>): number {
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  return address.port;
}

/**
 * Listens with a Node proxy's HTTP server on a loopback port (keep-alive connections kept for
 * 120 s, so the load generator's are never cut) and serves it: closing ends every connection,
 * then `release` frees what the proxy holds towards the upstream (a pool, an agent).
 */
export async function serveHttpProxy(server: HttpServer, release: () => unknown): Promise<Served> {
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    ports: { port: portOf(server.address()) },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await release();
    },
  };
}
