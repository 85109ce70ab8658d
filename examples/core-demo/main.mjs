// Why: the shortest tour of the core layers, with nothing but @proxykit/core. This starts a
// real HTTP server on 127.0.0.1 (port chosen by the OS) whose answers take a requested time, then
// calls it through a stack of core layers — a deadline and a concurrency limit with a small
// queue — and prints what happened to each call. It stops by itself.
import { createServer } from 'node:http';
import { once } from 'node:events';
import {
  ConcurrencyLimitLayer,
  TimeoutLayer,
  defaultClassifier,
  isOverloadedError,
  isTimeoutError,
  stack,
} from '@proxykit/core';

const server = createServer((req, res) => {
  const delayMs = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
  const timer = setTimeout(() => res.end(`slept ${delayMs} ms`), delayMs);
  res.on('close', () => clearTimeout(timer));
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
console.log(`demo upstream listening on http://127.0.0.1:${port}`);

// Outermost first: every call gets a 250 ms deadline, then at most 3 run at once and 4 may wait.
const layers = stack(
  new TimeoutLayer({ timeoutMs: 250 }),
  new ConcurrencyLimitLayer({ maxConcurrent: 3, maxQueued: 4 }),
);
/** @type {(delayMs: number, ctx?: import('@proxykit/core').CallContext) => Promise<string>} */
const callUpstream = layers.wrap(async (delayMs, ctx) => {
  const response = await fetch(`http://127.0.0.1:${port}/?delay=${delayMs}`, {
    signal: ctx.signal,
  });
  return response.text();
});

const delays = [20, 40, 400, 30, 60, 500, 10, 80, 20, 30];
console.log(`sending ${delays.length} calls at once: deadline 250 ms, 3 concurrent, queue of 4\n`);
const started = performance.now();
const rows = await Promise.all(
  delays.map(async (delayMs, i) => {
    try {
      const body = await callUpstream(delayMs);
      return { call: i, askedMs: delayMs, outcome: 'ok', detail: body };
    } catch (error) {
      const kind = isTimeoutError(error)
        ? 'timeout'
        : isOverloadedError(error)
          ? 'rejected'
          : 'error';
      return {
        call: i,
        askedMs: delayMs,
        outcome: kind,
        detail: `${defaultClassifier.classifyError(error)}: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }),
);
console.table(rows);
console.log(`all ${rows.length} calls settled in ${Math.round(performance.now() - started)} ms`);

server.closeAllConnections();
server.close();
