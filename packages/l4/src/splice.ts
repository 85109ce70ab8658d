// Why: the forwarding loop is the whole cost of an L4 proxy, so it is written out by hand instead
// of `a.pipe(b); b.pipe(a)`: the same backpressure rule as `pipe` (a write that returns false
// pauses the source until the destination drains), but with the TCP semantics a proxy needs and
// `pipe` lacks — a half-close (FIN) is passed through while the other direction keeps flowing
// (both sockets `allowHalfOpen`, HAProxy's and socat's behaviour), a reset or an abrupt close on
// one side destroys the other at once, and one idle timeout covers both directions. Listeners are
// shared module-level functions that find the peer through a symbol on the socket: nothing is
// allocated per chunk and no closure per connection. Bytes are counted from the sockets'
// own `bytesRead`/`bytesWritten`, not per chunk. The idle timeout is a coarse per-process sweep
// (idle-sweep.ts), not `socket.setTimeout`, which re-arms a timer on every read and write.

import type { Socket } from 'node:net';
import { type IdleSweep, idleSweepFor } from './idle-sweep.js';

const PEER = Symbol('proxykit.l4.peer');
const DONE = Symbol('proxykit.l4.done');
const CLIENT = Symbol('proxykit.l4.client');
const SWEEP = Symbol('proxykit.l4.sweep');

/** Called once when both sockets of a splice are closed, with the client socket. */
export type SpliceDone = (client: Socket) => void;

/** A socket taking part in a splice. */
interface Spliced extends Socket {
  [PEER]: Spliced;
  [DONE]: SpliceDone | undefined;
  [CLIENT]: boolean;
  [SWEEP]: IdleSweep | undefined;
}

function onData(this: Spliced, chunk: Buffer): void {
  if (!this[PEER].write(chunk)) this.pause();
}

function onDrain(this: Spliced): void {
  this[PEER].resume();
}

function onEnd(this: Spliced): void {
  // The peer of this socket half-closed: pass the FIN on, keep the other direction open.
  this[PEER].end();
}

function ignoreError(): void {
  // The 'close' that follows every error carries hadError; that is where it is handled.
}

function onClose(this: Spliced, hadError: boolean): void {
  const peer = this[PEER];
  // A clean close (both directions finished) lets the peer finish flushing; anything else — a
  // reset, an error, a destroy before both FINs — takes the peer down at once.
  if (!peer.destroyed && (hadError || !this.readableEnded || !this.writableFinished)) {
    peer.destroy();
  }
  const done = this[DONE];
  if (done !== undefined && peer.destroyed) {
    this[DONE] = undefined;
    peer[DONE] = undefined;
    const client = this[CLIENT] ? this : peer;
    client[SWEEP]?.remove(client);
    done(client);
  }
}

function attach(socket: Spliced, peer: Spliced, done: SpliceDone, isClient: boolean): void {
  socket[PEER] = peer;
  socket[CLIENT] = isClient;
  socket[DONE] = done;
  socket[SWEEP] = undefined;
  socket.on('data', onData);
  socket.on('drain', onDrain);
  socket.on('end', onEnd);
  socket.on('error', ignoreError);
  socket.on('close', onClose);
}

/**
 * Forwards bytes both ways between two connected sockets until both are closed, then calls
 * `done(client)` once (`done` can be one function shared by every connection). Both sockets must have been created with `allowHalfOpen: true`, so a FIN from
 * one side ends the other side's writing only. `idleTimeoutMs` (0 for none) closes both when no
 * byte is read either way for that long (checked by a per-process sweep: after between 1 and
 * 1.25 × `idleTimeoutMs` of silence); nothing is armed per chunk.
 */
export function splice(
  client: Socket,
  backend: Socket,
  idleTimeoutMs: number,
  done: SpliceDone,
): void {
  const a = client as Spliced;
  const b = backend as Spliced;
  attach(a, b, done, true);
  attach(b, a, done, false);
  // Either side may already be gone (a client that left while the backend was connecting).
  if (a.destroyed || b.destroyed) {
    a.destroy();
    b.destroy();
    queueMicrotask(() => {
      if (a[DONE] !== undefined) {
        a[DONE] = undefined;
        b[DONE] = undefined;
        done(a);
      }
    });
    return;
  }
  // A FIN that arrived before the splice with nothing left to read (a client that sent its bytes
  // and its FIN while the backend was connecting, whose 'end' had no listener yet) is passed on now.
  if (a.readableEnded) b.end();
  if (b.readableEnded) a.end();
  if (idleTimeoutMs > 0) {
    const sweep = idleSweepFor(idleTimeoutMs);
    a[SWEEP] = sweep;
    sweep.add(a, b);
  }
  // Data that arrived before the splice (buffered while connecting) flows now, in order.
  if (a.isPaused()) a.resume();
  if (b.isPaused()) b.resume();
}
