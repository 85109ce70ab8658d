// Why: once a chunk is read, handing it to the peer socket is the other half of a forwarder's
// work, and `socket.write` does much more than the kernel needs for a chunk that can go out at
// once: the Writable state machine, a new write request object, and a `process.nextTick` to run
// the write's bookkeeping after it already completed. Under `ab -k -c 200` (two chunks per
// request) skipping it saved 0.6–1.4 µs of user CPU per request, a quarter to a third of the
// forwarder's user time; in `pnpm bench l4` the whole CPU per request fell from 14.2 µs to
// 10.2–11.0 (see the package README).
// So when nothing is queued in the peer's Writable, the chunk goes straight to the peer's libuv
// handle (`handle.writeBuffer`, the call `socket.write` itself ends in), with one write request
// object reused for every write the kernel takes at once: libuv's `uv_try_write` either sends
// the whole chunk, and no request is bound, or queues the rest, and then the request stays bound
// until its completion callback and a new one is made for the next write. Node keeps counting
// the bytes (`socket.bytesWritten` reads the handle's own count), a later `end()` is ordered
// after the queued write by libuv (a shutdown waits for the write queue), and `destroy()`
// cancels it. The handle's write request class comes from `process.binding('stream_wrap')`,
// which Node deprecates in documentation only (a warning under `--pending-deprecation`, in which
// case, or wherever the binding is missing or looks different, every write takes the Writable
// path instead).

import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** What `socket.write` ends in: the libuv stream handle Node keeps behind a socket. */
interface StreamHandle {
  writeBuffer(request: WriteRequest, bytes: Uint8Array): number;
}

/** A write request object of the handle's binding, with the fields this module sets on it. */
interface WriteRequest {
  oncomplete: (this: WriteRequest, status: number) => void;
  /** The target socket of a write still queued, and what to call once it completed. */
  target: Socket | null;
  whenFlushed: (() => void) | null;
  /** The queued bytes, kept reachable until the kernel took them. */
  bytes: Uint8Array | null;
}

/** The parts of Node's `stream_wrap` binding used here. */
interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

/** A socket as Node keeps it: its libuv handle, while it has one (not a public field). */
export interface HandledSocket extends Socket {
  _handle?: Partial<StreamHandle> | null;
}

/**
 * The outcome of {@link writeToHandle}:
 * - `'flushed'`: the kernel took every byte; their memory may be reused at once.
 * - `'queued'`: bytes are queued in the handle; `whenFlushed` runs once they are sent (or failed).
 * - `'failed'`: the write failed and the target socket was destroyed with the error.
 * - `'unavailable'`: nothing written (bytes queued in the socket's Writable, no handle, or no
 *   binding); `target.write` is the way.
 */
export type DirectWrite = 'flushed' | 'queued' | 'failed' | 'unavailable';

function pendingDeprecationOn(): boolean {
  const flag = '--pending-deprecation';
  return process.execArgv.includes(flag) || (process.env.NODE_OPTIONS ?? '').includes(flag);
}

function loadBinding(): StreamWrapBinding | undefined {
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (typeof binding !== 'function' || pendingDeprecationOn()) return undefined;
  try {
    const found = binding('stream_wrap') as Partial<StreamWrapBinding> | undefined;
    if (
      typeof found?.WriteWrap === 'function' &&
      found.streamBaseState instanceof Int32Array &&
      typeof found.kLastWriteWasAsync === 'number'
    ) {
      return found as StreamWrapBinding;
    }
  } catch {
    // A Node without the binding: the Writable path is used.
  }
  return undefined;
}

const binding = loadBinding();

/** Whether writes can go straight to socket handles in this process. */
export const directWritesAvailable: boolean = binding !== undefined;

/** The request the next write uses: never bound, since the last write that used it flushed. */
let spare: WriteRequest | undefined;

function newRequest(WriteWrap: StreamWrapBinding['WriteWrap']): WriteRequest {
  const request = new WriteWrap();
  request.oncomplete = onQueuedWriteDone;
  request.target = null;
  request.whenFlushed = null;
  request.bytes = null;
  return request;
}

function writeError(status: number): Error {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`write ${code}`), { code, errno: status, syscall: 'write' });
}

function onQueuedWriteDone(this: WriteRequest, status: number): void {
  const { target, whenFlushed } = this;
  this.target = null;
  this.whenFlushed = null;
  this.bytes = null;
  if (target === null) return;
  if (status < 0 && !target.destroyed) target.destroy(writeError(status));
  whenFlushed?.();
}

/**
 * Writes `bytes` to `target` straight through its libuv handle when nothing is queued in its
 * Writable (see the module comment), and says what happened. On `'queued'` the
 * handle still refers to `bytes` until `whenFlushed` runs, so their memory must not change
 * before; on `'unavailable'` nothing was written and `target.write` is the way.
 */
export function writeToHandle(
  target: Socket,
  bytes: Uint8Array,
  whenFlushed: () => void,
): DirectWrite {
  const handle = (target as HandledSocket)._handle;
  if (
    binding === undefined ||
    handle?.writeBuffer === undefined ||
    target.writableLength !== 0 ||
    target.writableEnded ||
    target.connecting
  ) {
    return 'unavailable';
  }
  // A request is reused only after a write the kernel took at once (it never got bound); a
  // failed one may have been, so the next write makes a new one.
  const request = spare ?? newRequest(binding.WriteWrap);
  spare = undefined;
  const status = handle.writeBuffer(request, bytes);
  if (status !== 0) {
    target.destroy(writeError(status));
    return 'failed';
  }
  if (binding.streamBaseState[binding.kLastWriteWasAsync] === 0) {
    spare = request;
    return 'flushed';
  }
  request.target = target;
  request.whenFlushed = whenFlushed;
  request.bytes = bytes;
  return 'queued';
}
