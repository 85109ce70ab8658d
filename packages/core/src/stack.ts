/**
 * Why: layers compose by nesting `a.wrap(b.wrap(fn))`, which reads inside out. `stack(a, b)`
 * reads in the order a request meets them (first listed is outermost), like tower's
 * ServiceBuilder, and `execute` runs one operation through any layer without naming a request.
 */
import { type CallContext, createContext, rootContext } from './context.js';
import type { Handler, Layer, Operation, Service } from './layer.js';

/** Runs `operation` once through `layer`, with `signal` as the call's signal. */
export function execute<Res>(
  layer: Layer,
  operation: Operation<Res>,
  signal?: AbortSignal,
): Promise<Res> {
  const service = layer.wrap((_req: undefined, ctx: CallContext) => operation(ctx));
  return service(undefined, createContext({ signal }));
}

/**
 * Convenience base class for layers that work on any request: provides `execute`.
 * Subclasses implement `wrap`.
 */
export abstract class LayerBase implements Layer {
  /** Returns a handler that applies this layer's behaviour around `next`. */
  abstract wrap<Req, Res>(next: Handler<Req, Res>): Service<Req, Res>;

  /**
   * Runs one operation through this layer.
   *
   * @example
   * ```ts
   * const rows = await breaker.execute(({ signal }) => pool.query({ text: 'SELECT 1', signal }));
   * ```
   */
  execute<Res>(operation: Operation<Res>, signal?: AbortSignal): Promise<Res> {
    return execute(this, operation, signal);
  }
}

/** Several layers composed into one; see {@link stack}. */
export interface LayerStack<In = unknown, Out = unknown> extends Layer<In, Out> {
  /** The layers, outermost first. */
  readonly layers: readonly Layer<In, Out>[];
}

/**
 * Composes layers into one. The first listed is the outermost: it sees the request first and
 * the result last.
 *
 * @example
 * ```ts
 * const query = stack(new TimeoutLayer({ timeoutMs: 2000 }), breaker).wrap((sql: string) => pool.query(sql));
 * await query('SELECT 1');
 * ```
 */
export function stack<In = unknown, Out = unknown>(
  ...layers: readonly Layer<In, Out>[]
): LayerStack<In, Out> {
  const frozen = Object.freeze([...layers]);
  return {
    layers: frozen,
    wrap<Req extends In, Res extends Out>(next: Handler<Req, Res>): Service<Req, Res> {
      if (frozen.length === 0) return (req, ctx = rootContext) => next(req, ctx);
      let handler: Handler<Req, Res> = next;
      for (let i = frozen.length - 1; i >= 0; i--) {
        handler = (frozen[i] as Layer<In, Out>).wrap(handler);
      }
      // The outermost layer's handler is a Service: it supplies the context when omitted.
      return handler as Service<Req, Res>;
    },
  };
}
