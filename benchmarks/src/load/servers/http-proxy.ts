/**
 * Why: http-proxy (node-http-proxy) is the most used Node.js proxy library; one of the peers of
 * the proxy suite. Given a keep-alive agent (without one it closes every upstream connection,
 * which would be an unfair comparison), with the same socket cap as the other Node peers.
 */
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { serve, serveHttpProxy } from './serve.js';

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
  return serveHttpProxy(server, () => {
    agent.destroy();
  });
});
