/**
 * Why: a load suite starts servers in other processes (Node peers, nginx, HAProxy, socat) and
 * writes their configuration to temporary directories. None of them may outlive the suite: a
 * forgotten nginx keeps its port and its CPU share and skews the next run. Everything started is
 * registered here; the suite stops it in a `finally`, and Ctrl-C, a kill or an exit without that
 * (which skip `finally` blocks) kill it synchronously, the way scripts/workspace.mjs's
 * `removeOnSignal` removes its directories.
 */
import { rmSync } from 'node:fs';

/** Something started by a suite that must be stopped at the end. */
export interface Stoppable {
  /** Stops gracefully (bounded in time); resolves once it is gone. */
  readonly stop: () => Promise<void>;
  /** Stops at once, synchronously; used on signals and at exit. */
  readonly kill: () => void;
}

const live = new Set<Stoppable>();
let installed = false;

function killAll(): void {
  for (const item of live) {
    try {
      item.kill();
    } catch {
      // Best effort: the process may already be gone.
    }
  }
  live.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal); // our listener is gone: exit the way the signal would
    });
  }
}

/** Registers `item` to be stopped by {@link stopAll}, at exit or on a signal. */
export function track<T extends Stoppable>(item: T): T {
  install();
  live.add(item);
  return item;
}

/** Forgets `item` (it was stopped by other means). */
export function untrack(item: Stoppable): void {
  live.delete(item);
}

/** A temporary directory removed with everything else. */
export function trackDir(dir: string): void {
  const remove = (): void => {
    rmSync(dir, { recursive: true, force: true });
  };
  track({
    stop: () => {
      remove();
      return Promise.resolve();
    },
    kill: remove,
  });
}

/** Stops everything still registered, the most recently started first. */
export async function stopAll(): Promise<void> {
  const items = [...live].reverse();
  for (const item of items) {
    live.delete(item);
    try {
      await item.stop();
    } catch {
      item.kill();
    }
  }
}
