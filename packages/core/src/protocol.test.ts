import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { ConcurrencyLimitLayer } from './concurrency-limit-layer.js';
import { createContext, createContextKey, rootContext } from './context.js';
import type { Layer } from './layer.js';
import { stack } from './stack.js';
import { TimeoutLayer } from './timeout-layer.js';

const TAG = createContextKey<number>('tag');

const layerKinds = fc.constantFrom('timeout', 'limit', 'identity', 'tag', 'attempt');

function build(kind: string): Layer {
  switch (kind) {
    case 'timeout':
      return new TimeoutLayer({ timeoutMs: 60_000 });
    case 'limit':
      return new ConcurrencyLimitLayer({ maxConcurrent: 4 });
    case 'tag':
      return {
        wrap:
          (next) =>
          (req, ctx = rootContext) =>
            next(req, ctx.with(TAG, 1)),
      };
    case 'attempt':
      return {
        wrap:
          (next) =>
          (req, ctx = rootContext) =>
            next(req, ctx.withAttempt(ctx.attempt + 1)),
      };
    default:
      return {
        wrap:
          (next) =>
          (req, ctx = rootContext) =>
            next(req, ctx),
      };
  }
}

describe('the layer protocol', () => {
  test.prop([fc.array(layerKinds, { maxLength: 8 }), fc.boolean()])(
    'the innermost handler sees the caller abort through any stack of core layers',
    async (kinds, abortBeforeCall) => {
      const controller = new AbortController();
      const reason = new Error('caller aborted');
      if (abortBeforeCall) controller.abort(reason);
      let seen: AbortSignal | undefined;
      const handler = stack(...kinds.map(build)).wrap(
        (_req: null, ctx) =>
          new Promise<string>((resolve) => {
            seen = ctx.signal;
            const settle = (): void => {
              resolve(ctx.signal.reason === reason ? 'saw the reason' : 'other reason');
            };
            if (ctx.signal.aborted) settle();
            else ctx.signal.addEventListener('abort', settle, { once: true });
          }),
      );
      const result = handler(null, createContext({ signal: controller.signal }));
      await new Promise((r) => setImmediate(r));
      if (!abortBeforeCall) controller.abort(reason);
      await expect(result).resolves.toBe('saw the reason');
      expect(seen?.aborted).toBe(true);
    },
  );
});
