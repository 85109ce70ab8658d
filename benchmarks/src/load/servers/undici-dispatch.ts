/**
 * Why: the floor under our proxy's own way of calling undici. Like the `Pool.stream`
 * pass-through, a `node:http` server forwarding every request to an undici Pool with no routing,
 * resilience, metrics or header policy beyond dropping hop-by-hop headers, but through
 * `Pool.dispatch` with a handler object, as our proxy does: the response is written to the client
 * as undici parses it, with no stream and no promise per request. A reference row, not a goal:
 * what our proxy spends above it is what its features cost.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
import { serve, serveHttpProxy } from './serve.js';
import { withoutHopByHop } from './pass-through-headers.js';

/** Why a call is aborted when its client left before the response ended. */
const CLIENT_GONE = new Error('the client closed the connection');

/**
 * Writes one upstream response to the client as undici delivers it. A client that leaves first
 * aborts the call, so its upstream connection is not left paused forever (no feature, but without
 * it the pool runs dry once enough clients leave mid-response).
 */
class PassHandler implements Dispatcher.DispatchHandler {
  readonly #res: ServerResponse;
  #controller: Dispatcher.DispatchController | undefined;
  #ended = false;

  constructor(res: ServerResponse) {
    this.#res = res;
    res.once('close', () => {
      if (!this.#ended) this.#controller?.abort(CLIENT_GONE);
    });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    this.#res.writeHead(statusCode, withoutHopByHop(headers));
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#res.write(chunk)) {
      this.#controller?.pause();
      this.#res.once('drain', () => this.#controller?.resume());
    }
  }

  onResponseEnd(): void {
    this.#ended = true;
    this.#res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, _error: Error): void {
    this.#ended = true;
    if (!this.#res.headersSent) this.#res.writeHead(502);
    this.#res.end();
  }
}

serve(async (options) => {
  const { upstream } = options as { readonly upstream: string };
  const pool = new Pool(upstream, { connections: 128, pipelining: 1 });
  const server = createServer((req, res) => {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    pool.dispatch(
      {
        path: req.url ?? '/',
        method: req.method ?? 'GET',
        headers: withoutHopByHop(req.headers),
        body: hasBody ? req : null,
      },
      new PassHandler(res),
    );
  });
  return serveHttpProxy(server, () => pool.close());
});
