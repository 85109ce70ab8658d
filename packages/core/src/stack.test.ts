import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { type CallContext, createContextKey, rootContext } from './context.js';
import type { Handler, Layer, Service } from './layer.js';
import { LayerBase, execute, stack } from './stack.js';

function tracingLayer(id: number, trace: string[]): Layer {
  return {
    wrap<Req, Res>(next: Handler<Req, Res>): Service<Req, Res> {
      return async (req, ctx) => {
        trace.push(`enter ${String(id)}`);
        try {
          return await next(req, ctx!);
        } finally {
          trace.push(`exit ${String(id)}`);
        }
      };
    },
  };
}

describe('stack', () => {
  test.prop([fc.integer({ min: 0, max: 12 })])(
    'the first layer listed is outermost: entered first, left last',
    async (count) => {
      const trace: string[] = [];
      const ids = Array.from({ length: count }, (_, i) => i);
      const handler = stack(...ids.map((id) => tracingLayer(id, trace))).wrap(async (n: number) => {
        trace.push('handler');
        return n * 2;
      });
      await expect(handler(21)).resolves.toBe(42);
      expect(trace).toEqual([
        ...ids.map((id) => `enter ${String(id)}`),
        'handler',
        ...ids.toReversed().map((id) => `exit ${String(id)}`),
      ]);
    },
  );

  it('equals nesting wrap calls by hand', async () => {
    const trace1: string[] = [];
    const trace2: string[] = [];
    const fn = async (x: string): Promise<string> => x;
    await stack(tracingLayer(1, trace1), tracingLayer(2, trace1)).wrap(fn)('a');
    await tracingLayer(1, trace2).wrap(tracingLayer(2, trace2).wrap(fn))('a');
    expect(trace1).toEqual(trace2);
  });

  it('wraps a plain (req) => Promise function and supplies a context when the caller omits it', async () => {
    const seen: CallContext[] = [];
    const handler = stack().wrap(async (req: string, ctx: CallContext) => {
      seen.push(ctx);
      return req.toUpperCase();
    });
    await expect(handler('pg')).resolves.toBe('PG');
    expect(seen[0]?.attempt).toBe(1);
    expect(seen[0]?.signal.aborted).toBe(false);
  });

  it('lets an outer layer hand a typed value to an inner one through the context', async () => {
    const UPSTREAM = createContextKey<{ host: string }>('upstream');
    const chooser: Layer = {
      wrap:
        (next) =>
        (req, ctx = rootContext) =>
          next(req, ctx.with(UPSTREAM, { host: 'b.internal' })),
    };
    const handler = stack(chooser).wrap(async (_req: null, ctx) => ctx.get(UPSTREAM)?.host);
    await expect(handler(null)).resolves.toBe('b.internal');
  });

  it('exposes its layers, outermost first', () => {
    const a = tracingLayer(1, []);
    const b = tracingLayer(2, []);
    expect(stack(a, b).layers).toEqual([a, b]);
  });

  it('runs a one-off operation with execute and passes the signal', async () => {
    const controller = new AbortController();
    const trace: string[] = [];
    const result = await execute(
      stack(tracingLayer(1, trace)),
      async (ctx) => (ctx.signal === controller.signal ? 'same signal' : 'other'),
      controller.signal,
    );
    expect(result).toBe('same signal');
    expect(trace).toEqual(['enter 1', 'exit 1']);
  });

  it('gives LayerBase subclasses an execute method', async () => {
    class Doubling extends LayerBase {
      wrap<Req, Res>(next: Handler<Req, Res>): Service<Req, Res> {
        return async (req, ctx) => {
          await next(req, ctx!);
          return next(req, ctx!);
        };
      }
    }
    let calls = 0;
    await new Doubling().execute(async () => ++calls);
    expect(calls).toBe(2);
  });
});
