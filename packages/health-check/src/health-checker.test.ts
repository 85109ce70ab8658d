import diagnostics from 'node:diagnostics_channel';
import { createContextKey, rootContext, VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { HealthChangeEvent } from './health-events.js';
import type { HealthTarget } from './health-probe.js';
import { HealthChecker } from './health-checker.js';

const targets: HealthTarget[] = ['a', 'b', 'c', 'd'].map((name, i) => ({
  name,
  host: '127.0.0.1',
  port: 9000 + i,
}));
const describeEvent = (e: HealthChangeEvent): string =>
  `${e.upstream} ${e.from}→${e.to} ${e.reason}`;

/** Active checks whose probe answers from `up` and records when each upstream was probed. */
function setup(options: { up?: (name: string) => boolean; intervalMs?: number } = {}) {
  const clock = new VirtualClock();
  const probes: string[] = [];
  const up = options.up ?? (() => true);
  const checker = new HealthChecker({
    targets,
    clock,
    active: {
      probe: async (t) => {
        probes.push(`${t.name}@${clock.now()}`);
        if (!up(t.name)) throw new Error(`${t.name} down`);
      },
      intervalMs: options.intervalMs ?? 5_000,
      jitter: 0,
      unhealthyThreshold: 2,
      healthyThreshold: 2,
    },
    passive: { consecutiveFailures: 2, baseEjectionMs: 1_000, maxEjectionPercent: 50 },
  });
  const events: string[] = [];
  checker.onHealthChange((e) => events.push(describeEvent(e)));
  return { clock, checker, probes, events };
}

describe('HealthChecker', () => {
  it('needs active checks, passive checks, or both', () => {
    expect(() => new HealthChecker({})).toThrow('HealthChecker: give active, passive or both');
    expect(() => new HealthChecker({ passive: { maxEjectionPercent: 200 } })).toThrow(RangeError);
  });

  it('passive only: ejects on live failures and lets the upstream back when the ejection ends', () => {
    const clock = new VirtualClock();
    const checker = new HealthChecker({
      targets,
      clock,
      passive: { consecutiveFailures: 2, baseEjectionMs: 1_000 },
    });
    const events: string[] = [];
    checker.onHealthChange((e) =>
      events.push(`${describeEvent(e)}${e.ejectedForMs === undefined ? '' : ` ${e.ejectedForMs}`}`),
    );
    checker.report('b', 'upstream');
    checker.report('b', 'upstream');
    expect(checker.isAvailable('b')).toBe(false);
    expect(checker.stateOf('b')).toBe('ejected');
    clock.advance(1_000);
    expect(targets.filter(checker.isAvailable).map((t) => t.name)).toEqual(['a', 'b', 'c', 'd']);
    expect(events).toEqual(['b healthy→ejected ejected 1000', 'b ejected→healthy ejection-ended']);
    expect(checker.active).toBeUndefined();
    expect(() => checker.start()).not.toThrow();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('with active checks, an upstream back from an ejection must pass a probe first — probed the moment the ejection ends', async () => {
    const { clock, checker, probes, events } = setup();
    checker.start();
    await clock.advanceAsync(0); // first round of probes at 0
    probes.length = 0;
    clock.advance(100);
    checker.report('c', 'upstream');
    checker.report('c', 'upstream'); // ejected at 100 until 1 100
    expect(events).toEqual(['c healthy→ejected ejected']);
    await clock.advanceAsync(999);
    expect(checker.isAvailable('c')).toBe(false);
    expect(probes).toEqual([]);
    await clock.advanceAsync(1); // 1 100: the ejection ends and c is probed at once
    expect(probes).toEqual(['c@1100']);
    expect(checker.isAvailable('c')).toBe(true);
    expect(events).toEqual([
      'c healthy→ejected ejected',
      'c ejected→healthy return-probe-succeeded',
    ]);
    expect(checker.statusOf('c')).toMatchObject({
      state: 'healthy',
      available: true,
      awaitingProbe: false,
    });
    await checker[Symbol.asyncDispose]();
    expect(clock.pendingTimers()).toBe(0);
  });

  it('keeps a returned upstream out while its return probe fails, until active checks decide', async () => {
    let cUp = true;
    const { clock, checker, events } = setup({
      up: (name) => name !== 'c' || cUp,
      intervalMs: 500,
    });
    checker.start();
    await clock.advanceAsync(0);
    checker.report('c', 'upstream');
    checker.report('c', 'upstream'); // ejected 0 → 1 000
    cUp = false;
    await clock.advanceAsync(1_000); // probes at 500 (fails, during ejection) and 1 000 (fails: return probe)
    expect(checker.stateOf('c')).toBe('unhealthy'); // two failures: unhealthyThreshold
    expect(checker.isAvailable('c')).toBe(false);
    cUp = true;
    await clock.advanceAsync(500);
    expect(checker.isAvailable('c')).toBe(false); // one success; healthyThreshold is 2
    await clock.advanceAsync(500);
    expect(checker.isAvailable('c')).toBe(true);
    expect(events).toEqual([
      'c healthy→ejected ejected',
      'c ejected→unhealthy unhealthy-threshold',
      'c unhealthy→healthy healthy-threshold',
    ]);
    checker[Symbol.dispose]();
  });

  it('does not accept a probe that started before the ejection ended as the return probe', async () => {
    const clock = new VirtualClock();
    const started: { name: string; at: number; resolve: () => void }[] = [];
    const checker = new HealthChecker({
      targets,
      clock,
      active: {
        probe: (t) =>
          new Promise<void>((resolve) => {
            if (t.name === 'a') started.push({ name: t.name, at: clock.now(), resolve });
            else resolve();
          }),
        intervalMs: 5_000,
        timeoutMs: 4_000,
        jitter: 0,
      },
      passive: { consecutiveFailures: 1, baseEjectionMs: 1_000 },
    }).start();
    await clock.advanceAsync(0); // a's first probe starts at 0 and hangs
    checker.report('a', 'upstream'); // ejected 0 → 1 000
    await clock.advanceAsync(1_500);
    started[0]?.resolve(); // succeeds at 1 500, but it started at 0
    await clock.advanceAsync(0);
    expect(checker.statusOf('a')?.awaitingProbe).toBe(true);
    expect(started.map((s) => s.at)).toEqual([0, 1_500]); // the return probe follows at once
    started[1]?.resolve();
    await clock.advanceAsync(0);
    expect(checker.isAvailable('a')).toBe(true);
    checker[Symbol.dispose]();
  });

  it('reports unhealthy over ejected, and lists every upstream for a /healthz?check=upstream endpoint', async () => {
    const { clock, checker } = setup({ up: (name) => name !== 'd', intervalMs: 100 });
    checker.start();
    await clock.advanceAsync(100); // d fails twice
    checker.report('d', 'upstream');
    checker.report('d', 'upstream');
    expect(checker.stateOf('d')).toBe('unhealthy');
    const statuses = checker.statuses();
    expect(statuses.map((s) => [s.upstream, s.state, s.available])).toEqual([
      ['a', 'healthy', true],
      ['b', 'healthy', true],
      ['c', 'healthy', true],
      ['d', 'unhealthy', false],
    ]);
    expect(statuses[3]).toMatchObject({
      active: { state: 'unhealthy', consecutiveFailures: 2 },
      passive: { ejected: true, ejections: 1 },
    });
    expect(checker.statusOf('zzz')).toBeUndefined();
    expect(checker.stateOf('zzz')).toBeUndefined();
    checker[Symbol.dispose]();
  });

  it('gives the load balancer a hook of the shape (upstream) => boolean', () => {
    const { checker } = setup();
    const isAvailable: (upstream: { name: string }) => boolean = checker.isAvailable;
    checker.report('a', 'upstream');
    checker.report('a', 'upstream');
    expect(targets.filter(isAvailable).map((t) => t.name)).toEqual(['b', 'c', 'd']);
    expect(isAvailable({ name: 'not-registered' })).toBe(true);
    expect(checker.isAvailable('a')).toBe(false);
  });

  it('builds a reporting layer from a context key, and refuses to without passive checks', async () => {
    const { checker } = setup();
    const UPSTREAM = createContextKey<HealthTarget>('upstream');
    const call = checker
      .layer((_req, ctx) => ctx.get(UPSTREAM))
      .wrap(async () => ({ status: 502 }));
    for (let i = 0; i < 2; i++) await call(undefined, rootContext.with(UPSTREAM, targets[1]!));
    await new Promise((resolve) => setImmediate(resolve));
    expect(checker.stateOf('b')).toBe('ejected');
    const activeOnly = new HealthChecker({ active: { probe: async () => undefined } });
    expect(() => activeOnly.layer(() => 'a')).toThrow(/needs passive checks/);
  });

  it('adds and removes upstreams in both checkers', () => {
    const { checker } = setup();
    checker.add({ name: 'e', host: '127.0.0.1', port: 9100 });
    expect(checker.size).toBe(5);
    expect(checker.has('e')).toBe(true);
    expect(checker.active?.has('e')).toBe(true);
    expect(checker.passive?.has('e')).toBe(true);
    expect(checker.remove('e')).toBe(true);
    expect(checker.active?.has('e')).toBe(false);
    expect(checker.passive?.has('e')).toBe(false);
    expect(checker.targets.map((t) => t.name)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('publishes the combined change once on proxykit:health-check:health-change', async () => {
    const received: string[] = [];
    const listener = (m: unknown): void => {
      received.push(describeEvent(m as HealthChangeEvent));
    };
    diagnostics.subscribe('proxykit:health-check:health-change', listener);
    try {
      const { clock, checker } = setup({ up: (name) => name !== 'b', intervalMs: 100 });
      checker.start();
      await clock.advanceAsync(100);
      checker.report('a', 'upstream');
      checker.report('a', 'upstream');
      checker[Symbol.dispose]();
    } finally {
      diagnostics.unsubscribe('proxykit:health-check:health-change', listener);
    }
    expect(received).toEqual([
      'b healthy→unhealthy unhealthy-threshold',
      'a healthy→ejected ejected',
    ]);
  });
});
