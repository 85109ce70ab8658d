// Why: the entry point of one worker process (a cluster worker or a reusePort child). It runs the
// in-process forwarding engine on the configuration the primary passed in its environment,
// answers the primary's requests for counters, and drains on the primary's word. Signals are
// the primary's to handle: Ctrl-C reaches the whole process group, and a worker that stopped on
// its own would cut its connections short of the grace period. A worker whose primary is gone
// (the IPC channel closes) drains and exits.

import { LocalForwarder } from './forwarder.js';
import { WORKER_ENV, type WorkerInit, type WorkerMessage } from './workers.js';

function send(message: WorkerMessage): void {
  if (process.connected) process.send?.(message);
}

async function main(): Promise<void> {
  const raw = process.env[WORKER_ENV];
  if (raw === undefined || process.send === undefined) {
    process.stderr.write('proxykit-l4 worker: start it through createForwarder or proxykit-l4\n');
    process.exitCode = 1;
    return;
  }
  const init = JSON.parse(raw) as WorkerInit;
  const engine = new LocalForwarder(init.config, {
    worker: init.worker,
    reusePort: init.reusePort,
  });
  let stopping: Promise<void> | undefined;
  const stop = (graceMs: number): void => {
    stopping ??= engine.shutdown(graceMs).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => {
    stop(init.config.shutdownGraceSeconds * 1_000);
  });
  process.on('disconnect', () => {
    stop(init.config.shutdownGraceSeconds * 1_000);
  });
  process.on('message', (message: WorkerMessage) => {
    if (message.l4 === 'stats-request') {
      send({ l4: 'stats', id: message.id, snapshot: engine.snapshot() });
    } else if (message.l4 === 'shutdown') {
      stop(message.graceMs);
    }
  });
  try {
    const address = await engine.listen(init.port);
    send({ l4: 'listening', address });
  } catch (error) {
    const message: WorkerMessage = {
      l4: 'failed',
      message: error instanceof Error ? error.message : String(error),
    };
    // Exit once the message is out, so the primary learns why.
    process.send(message, undefined, {}, () => process.exit(1));
  }
}

void main();
