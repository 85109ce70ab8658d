/**
 * Why: one protocol lets a breaker wrap a database call and the same breaker sit in a proxy's
 * stack. A Layer turns a Handler into a Handler, as in tower; any `(req) => Promise<Res>` is
 * already a Handler, so plain functions wrap without adapters.
 */
import type { CallContext } from './context.js';

/**
 * The inner side of the protocol: what a layer calls. It always receives a context.
 * A plain `(req) => Promise<Res>` function is a valid Handler.
 */
export type Handler<Req, Res> = (req: Req, ctx: CallContext) => Promise<Res>;

/**
 * The outer side of the protocol: what `layer.wrap(next)` returns. The context may be omitted
 * by the outermost caller (it then defaults to `rootContext`); a Service is also a Handler,
 * so it can be wrapped again.
 */
export type Service<Req, Res> = (req: Req, ctx?: CallContext) => Promise<Res>;

/**
 * A middleware that wraps a handler. `In` and `Out` bound the request and result types the
 * layer understands; layers that do not inspect them leave both `unknown`.
 */
export interface Layer<In = unknown, Out = unknown> {
  /** Returns a handler that applies this layer's behaviour around `next`. */
  wrap<Req extends In, Res extends Out>(next: Handler<Req, Res>): Service<Req, Res>;
}

/** A one-off operation run through a layer with {@link execute}: it gets the call's context. */
export type Operation<Res> = (ctx: CallContext) => Promise<Res>;
