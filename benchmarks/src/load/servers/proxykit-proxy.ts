/**
 * Why: our HTTP reverse proxy under load, as users run it: `createProxy` from the built
 * `@proxykit/proxy` with health checks, circuit breaker, retries with a budget, a per-client
 * rate limit (high enough never to reject) and metrics all on, one worker, logging silenced.
 * The suite passes the configuration; this only starts it in its own process.
 */
import { serve } from './serve.js';

/** What this file needs of `@proxykit/proxy`. */
interface ProxyModule {
  createProxy(options: Record<string, unknown>): {
    listen(): Promise<{ port: number }>;
    close(): Promise<void>;
  };
}

serve(async (options) => {
  const { config } = options as { readonly config: Record<string, unknown> };
  const { createProxy } = (await import('@proxykit/proxy')) as unknown as Partial<ProxyModule>;
  if (createProxy === undefined) throw new Error('@proxykit/proxy does not export createProxy yet');
  const proxy = createProxy(config);
  const { port } = await proxy.listen();
  return { ports: { port }, close: () => proxy.close() };
});
