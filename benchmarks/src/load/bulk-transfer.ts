/**
 * Why: requests per second say how cheap a forwarder is per connection and per small message;
 * bulk throughput says how fast it moves bytes once a connection is up (buffer sizes, copies,
 * backpressure). The upstream's TCP source sends a fixed number of bytes to each connection;
 * this connects through the forwarder, reads until the last byte and reports MB/s (10^6 bytes).
 */
import { connect } from 'node:net';

/** What one bulk transfer measured. */
export interface BulkResult {
  readonly bytes: number;
  readonly seconds: number;
  /** 10^6 bytes per second. */
  readonly megabytesPerSec: number;
}

/** Reads `bytes` from `port` and resolves with the rate; rejects on an early close. */
export function receiveBulk(port: number, bytes: number, timeoutMs: number): Promise<BulkResult> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(
          `bulk transfer: ${String(received)} of ${String(bytes)} bytes in ${String(timeoutMs)} ms`,
        ),
      );
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received < bytes) return;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: received, seconds, megabytesPerSec: received / 1e6 / seconds });
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (received < bytes) {
        reject(
          new Error(
            `bulk transfer: connection closed after ${String(received)} of ${String(bytes)} bytes`,
          ),
        );
      }
    });
  });
}
