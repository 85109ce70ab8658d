import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Emitter, proxykitChannel, toDisposer } from './events.js';

describe('Emitter', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('delivers to listeners until their disposer runs', () => {
    const emitter = new Emitter<number>();
    const seen: number[] = [];
    const off = emitter.on((n) => seen.push(n));
    emitter.emit(1);
    off();
    off();
    emitter.emit(2);
    expect(seen).toEqual([1]);
    expect(emitter.listenerCount).toBe(0);
  });

  it('supports `using` for scoped subscriptions', () => {
    const emitter = new Emitter<string>();
    const seen: string[] = [];
    {
      using _subscription = emitter.on((s) => seen.push(s));
      emitter.emit('inside');
    }
    emitter.emit('outside');
    expect(seen).toEqual(['inside']);
  });

  it('reports wanted only when someone listens, here or on the channel', () => {
    const channel = proxykitChannel('core-test', 'wanted');
    const emitter = new Emitter<number>(channel);
    expect(emitter.wanted).toBe(false);
    const subscriber = (): void => undefined;
    diagnostics.subscribe('proxykit:core-test:wanted', subscriber);
    expect(emitter.wanted).toBe(true);
    diagnostics.unsubscribe('proxykit:core-test:wanted', subscriber);
    expect(emitter.wanted).toBe(false);
    const off = emitter.on(() => undefined);
    expect(emitter.wanted).toBe(true);
    off();
  });

  it('publishes each event to its diagnostics channel', () => {
    const emitter = new Emitter<{ n: number }>(proxykitChannel('core-test', 'publish'));
    const received: unknown[] = [];
    const subscriber = (message: unknown): void => {
      received.push(message);
    };
    diagnostics.subscribe('proxykit:core-test:publish', subscriber);
    emitter.emit({ n: 7 });
    diagnostics.unsubscribe('proxykit:core-test:publish', subscriber);
    expect(received).toEqual([{ n: 7 }]);
  });

  it('isolates a throwing listener: the others still run and the emitter does not throw', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const emitter = new Emitter<number>();
    const seen: number[] = [];
    emitter.on(() => {
      throw new Error('listener bug');
    });
    emitter.on((n) => seen.push(n));
    expect(() => {
      emitter.emit(3);
    }).not.toThrow();
    expect(seen).toEqual([3]);
    expect(warn).toHaveBeenCalledOnce();
  });
});

describe('toDisposer', () => {
  it('runs the cleanup once, whether called or disposed', () => {
    let runs = 0;
    const dispose = toDisposer(() => runs++);
    dispose();
    dispose[Symbol.dispose]();
    expect(runs).toBe(1);
  });
});
