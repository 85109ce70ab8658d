/**
 * Why: every proxy and forwarder is measured in front of the same upstream, so differences
 * between them are theirs alone. A plain Node HTTP server answering every request with the same
 * small body (Content-Length, keep-alive without a request cap, HTTP/1.0 keep-alive for ab), and
 * optionally a TCP source that sends a fixed number of bytes to each connection and closes it,
 * for bulk throughput.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { portOf, serve } from './serve.js';

/** Options of the upstream. */
export interface UpstreamOptions {
  /** Size of the response body in bytes. */
  readonly bodyBytes: number;
  /** When set, also listen on `bulkPort` and send this many bytes to each connection. */
  readonly bulkBytes?: number;
}

const CHUNK = Buffer.alloc(1 << 20, 'x');

function sendBulk(socket: Socket, total: number): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
    socket.end();
  };
  socket.on('error', () => socket.destroy());
  pump();
}

serve(async (options) => {
  const { bodyBytes, bulkBytes } = options as UpstreamOptions;
  const body = Buffer.alloc(bodyBytes, 'a');
  const headers = {
    'content-type': 'text/plain',
    'content-length': String(body.length),
  };
  const http = createHttpServer({ keepAliveTimeout: 120_000 }, (req, res) => {
    req.resume();
    res.writeHead(200, headers);
    res.end(body);
  });
  http.maxRequestsPerSocket = 0;
  http.headersTimeout = 0;
  http.requestTimeout = 0;
  http.listen(0, '127.0.0.1');
  await new Promise((resolve) => http.once('listening', resolve));
  const bulk =
    bulkBytes === undefined
      ? undefined
      : createTcpServer((socket) => {
          sendBulk(socket, bulkBytes);
        }).listen(0, '127.0.0.1');
  if (bulk !== undefined) await new Promise((resolve) => bulk.once('listening', resolve));
  return {
    ports: {
      port: portOf(http.address()),
      ...(bulk === undefined ? {} : { bulkPort: portOf(bulk.address()) }),
    },
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      if (bulk !== undefined) await new Promise((resolve) => bulk.close(resolve));
    },
  };
});
