/**
 * Why: the floor for a Node.js HTTP proxy built on undici, which ours is: a `node:http` server
 * that hands each request to an undici Pool with `pool.stream` and writes the upstream's answer
 * straight into the response, with no routing, resilience, metrics or header policy beyond
 * dropping the hop-by-hop headers undici refuses. Ours must be no slower than this.
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { withoutHopByHop } from './pass-through-headers.js';
import { serve, serveHttpProxy } from './serve.js';

serve(async (options) => {
  const { upstream } = options as { readonly upstream: string };
  const pool = new Pool(upstream, { connections: 128 });
  const server = createServer((req, res) => {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    pool
      .stream(
        {
          path: req.url ?? '/',
          method: req.method as 'GET',
          headers: withoutHopByHop(req.headers),
          body: hasBody ? req : null,
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, withoutHopByHop(headers));
          return res;
        },
      )
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  });
  return serveHttpProxy(server, () => pool.close());
});
