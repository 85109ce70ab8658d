/**
 * Why: our TCP forwarder under load, as users run it: `createForwarder` from the built
 * `@proxykit/l4` with the configuration the suite passes (backends, workers), in its own
 * process so that it does not share an event loop with the load generator or the backend.
 */
import { createForwarder, type ForwarderOptions } from '@proxykit/l4';
import { serve } from './serve.js';

serve(async (options) => {
  const { config } = options as { readonly config: ForwarderOptions };
  const forwarder = createForwarder(config);
  const { port } = await forwarder.listen();
  return { ports: { port }, close: () => forwarder.close() };
});
