/**
 * Why: our TCP forwarder under load, as users run it: `createForwarder` from the built
 * `@proxykit/l4` with the configuration the suite passes (backends, workers), in its own
 * process so that its workers do not share a core's event loop with the load generator.
 */
import { serve } from './serve.js';

/** What this file needs of `@proxykit/l4`. */
interface L4Module {
  createForwarder(config: Record<string, unknown>): {
    listen(): Promise<{ port: number }>;
    close(): Promise<void>;
  };
}

serve(async (options) => {
  const { config } = options as { readonly config: Record<string, unknown> };
  const { createForwarder } = (await import('@proxykit/l4')) as unknown as Partial<L4Module>;
  if (createForwarder === undefined) {
    throw new Error('@proxykit/l4 does not export createForwarder yet');
  }
  const forwarder = createForwarder(config);
  const { port } = await forwarder.listen();
  return { ports: { port }, close: () => forwarder.close() };
});
