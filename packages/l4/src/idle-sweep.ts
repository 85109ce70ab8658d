// Why: `socket.setTimeout` re-arms a timer on every read and every write of the socket — two
// timer list updates (and a clock read each) per chunk forwarded, on the hot path of a
// request/response workload. An idle timeout only needs to notice connections on which nothing
// moved for a long while, so, like HAProxy's and nginx's coarse connection timers, one interval
// timer per process and timeout value samples each connection's byte counters a few times per
// timeout and closes those whose counters did not move. Nothing is done per chunk.

import type { Socket } from 'node:net';

/** Samples per timeout: a connection closes after between 1 and 1.25 × the timeout of silence. */
const TICKS_PER_TIMEOUT = 4;

/** A pair of spliced sockets watched for idleness. */
interface Watched {
  readonly a: Socket;
  readonly b: Socket;
  /** Bytes read by both sockets at the last sample. */
  seen: number;
  /** Consecutive samples that saw no byte move. */
  quiet: number;
}

/**
 * Closes socket pairs on which no byte was read either way for `timeoutMs`. One unref'd interval
 * timer, running only while pairs are watched, samples every pair's `bytesRead` each
 * `timeoutMs / 4`; a pair silent for four samples in a row is destroyed (both sockets). A pair
 * is therefore closed after at least `timeoutMs` and at most 1.25 × `timeoutMs` of silence.
 */
export class IdleSweep {
  /** The idle timeout, in ms. */
  readonly timeoutMs: number;
  readonly #periodMs: number;
  readonly #watched = new Map<Socket, Watched>();
  #timer: NodeJS.Timeout | undefined;

  /** @param timeoutMs the idle timeout, in ms (> 0) */
  constructor(timeoutMs: number) {
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0, got ${String(timeoutMs)}`);
    this.timeoutMs = timeoutMs;
    this.#periodMs = Math.max(1, Math.ceil(timeoutMs / TICKS_PER_TIMEOUT));
  }

  /** Pairs watched now. */
  get size(): number {
    return this.#watched.size;
  }

  /** Watches the pair `a`–`b` (keyed by `a`) until {@link IdleSweep.remove} or until it idles out. */
  add(a: Socket, b: Socket): void {
    this.#watched.set(a, { a, b, seen: a.bytesRead + b.bytesRead, quiet: 0 });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => {
        this.#sweep();
      }, this.#periodMs);
      this.#timer.unref();
    }
  }

  /** Stops watching the pair keyed by `a`. */
  remove(a: Socket): void {
    if (this.#watched.delete(a) && this.#watched.size === 0) this.#stop();
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    for (const [key, pair] of this.#watched) {
      const seen = pair.a.bytesRead + pair.b.bytesRead;
      if (seen !== pair.seen) {
        pair.seen = seen;
        pair.quiet = 0;
      } else if (++pair.quiet >= TICKS_PER_TIMEOUT) {
        this.#watched.delete(key);
        pair.a.destroy();
        pair.b.destroy();
      }
    }
    if (this.#watched.size === 0) this.#stop();
  }
}

const sweeps = new Map<number, IdleSweep>();

/** The process's sweep for `timeoutMs` (one timer per distinct timeout value). */
export function idleSweepFor(timeoutMs: number): IdleSweep {
  let sweep = sweeps.get(timeoutMs);
  if (sweep === undefined) {
    sweep = new IdleSweep(timeoutMs);
    sweeps.set(timeoutMs, sweep);
  }
  return sweep;
}
