/**
 * Why: our HTTP reverse proxy under load, as users run it: `createProxy` from the built
 * `@proxykit/proxy` with health checks, circuit breaker, retries with a budget, a per-client
 * rate limit (high enough never to reject) and metrics all on, one worker, logging silenced.
 * The suite passes the configuration; this only starts it in its own process.
 */
import { createProxy, type ProxyOptions } from '@proxykit/proxy';
import { serve } from './serve.js';

serve(async (options) => {
  const { config } = options as { readonly config: ProxyOptions };
  const proxy = createProxy(config);
  const { port } = await proxy.listen();
  return { ports: { port }, close: () => proxy.close() };
});
