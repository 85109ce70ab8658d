import { describe, expect, it } from 'vitest';
import { CustomProbe } from './custom-probe.js';
import { HealthProbeError, isHealthProbeError } from './health-check-errors.js';

const target = { name: 'db', host: '127.0.0.1', port: 5432 };

describe('CustomProbe', () => {
  it('passes when the function resolves, whatever the value', async () => {
    const seen: unknown[] = [];
    const signal = new AbortController().signal;
    const probe = new CustomProbe(async (t, s) => {
      seen.push(t, s);
      return { rows: [{ '?column?': 1 }] };
    });
    await expect(probe.probe(target, signal)).resolves.toBeUndefined();
    expect(seen).toEqual([target, signal]);
    await expect(
      new CustomProbe(async () => ({ status: 204 })).probe(target, signal),
    ).resolves.toBe(undefined);
  });

  it('fails with what the function threw or rejected with', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const signal = new AbortController().signal;
    await expect(new CustomProbe(() => Promise.reject(refused)).probe(target, signal)).rejects.toBe(
      refused,
    );
    const sync = new CustomProbe(() => {
      throw refused;
    });
    await expect(sync.probe(target, signal)).rejects.toBe(refused);
  });

  it('fails on an HTTP-like result with status >= 400 (a fetch Response, say)', async () => {
    const probe = new CustomProbe(async () => new Response('down', { status: 503 }));
    const error: unknown = await probe
      .probe(target, new AbortController().signal)
      .catch((e: unknown) => e);
    expect(isHealthProbeError(error)).toBe(true);
    expect(error).toBeInstanceOf(HealthProbeError);
    expect(error).toMatchObject({ failure: 'result', status: 503, category: 'upstream' });
    await expect(
      new CustomProbe(async () => ({ statusCode: 404 })).probe(
        target,
        new AbortController().signal,
      ),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('does not run when the signal has already aborted', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    let ran = false;
    const probe = new CustomProbe(async () => {
      ran = true;
    });
    await expect(probe.probe(target, controller.signal)).rejects.toBe(reason);
    expect(ran).toBe(false);
  });

  it('requires a function', () => {
    expect(() => new CustomProbe(42 as never)).toThrow(TypeError);
  });
});
