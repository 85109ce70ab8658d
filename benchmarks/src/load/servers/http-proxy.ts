/**
 * Why: http-proxy (node-http-proxy) is the most used Node.js proxy library; one of the peers of
 * the proxy suite. Given a keep-alive agent (without one it closes every upstream connection,
 * which would be an unfair comparison), with the same socket cap as the other Node peers.
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { portOf, serve } from './serve.js';

serve(async (options) => {
  const { upstream } = options as { readonly upstream: string };
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });
  const proxy = httpProxy.createProxyServer({ target: upstream, agent });
  const server = createServer((req, res) => {
    proxy.web(req, res, {}, () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    ports: { port: portOf(server.address()) },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
});
