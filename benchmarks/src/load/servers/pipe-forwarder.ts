/**
 * Why: the floor for a Node.js TCP forwarder: for each client connection, connect to the backend
 * and `pipe` both ways, with nothing else (no pool, no balancing, no telemetry). One process.
 * Our forwarder must beat it by pre-connecting and by avoiding what `pipe` costs per chunk.
 */
import { connect, createServer } from 'node:net';
import { portOf, serve } from './serve.js';

serve(async (options) => {
  const { backendPort } = options as { readonly backendPort: number };
  const server = createServer((client) => {
    const backend = connect(backendPort, '127.0.0.1');
    const destroyBoth = (): void => {
      client.destroy();
      backend.destroy();
    };
    client.on('error', destroyBoth);
    backend.on('error', destroyBoth);
    client.pipe(backend).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    ports: { port: portOf(server.address()) },
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
});
