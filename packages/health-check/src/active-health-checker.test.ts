import diagnostics from 'node:diagnostics_channel';
import { fc, test } from '@fast-check/vitest';
import { isTimeoutError, TimeoutError, VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import { ActiveHealthChecker } from './active-health-checker.js';
import type { HealthChangeEvent, ProbeEvent } from './health-events.js';
import type { HealthTarget } from './health-probe.js';
import { type HealthStatus, initialHealthStatus, recordProbe } from './health-status.js';

const upstream = (name: string, port = 8080): HealthTarget => ({ name, host: '127.0.0.1', port });

/** A probe that records its calls and answers from `up`: resolves at once when up, rejects when down. */
function instantProbe(up: (name: string) => boolean) {
  const calls: { name: string; at: number }[] = [];
  return {
    calls,
    probe: (clock: VirtualClock) => async (target: HealthTarget) => {
      calls.push({ name: target.name, at: clock.now() });
      if (!up(target.name)) throw new Error(`${target.name} is down`);
    },
  };
}

/** A probe that never answers by itself; it settles only when aborted (or when told to). */
function hangingProbe(options: { honourSignal: boolean }) {
  const calls: {
    name: string;
    signal: AbortSignal;
    resolve: () => void;
    reject: (e: unknown) => void;
  }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const probe = (target: HealthTarget, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (): void => {
        inFlight--;
      };
      calls.push({
        name: target.name,
        signal,
        resolve: () => {
          done();
          resolve();
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      if (options.honourSignal) {
        signal.addEventListener('abort', () => {
          done();
          reject(signal.reason as Error);
        });
      }
    });
  return { calls, probe, maxInFlight: () => maxInFlight };
}

describe('ActiveHealthChecker', () => {
  test.prop(
    [
      fc.record({
        timeoutMs: fc.integer({ min: 1, max: 200 }),
        intervalMs: fc.integer({ min: 1, max: 300 }),
      }),
      fc.array(
        fc.oneof(
          fc.record({
            kind: fc.constant('advance' as const),
            ms: fc.integer({ min: 0, max: 250 }),
          }),
          fc.record({
            kind: fc.constant('schedule' as const),
            upstream: fc.nat(2),
            delayMs: fc.integer({ min: 0, max: 300 }),
          }),
          fc.record({
            kind: fc.constant('settle' as const),
            upstream: fc.nat(2),
            ok: fc.boolean(),
          }),
          fc.record({ kind: fc.constant('toggle' as const), upstream: fc.nat(2) }),
        ),
        { maxLength: 120 },
      ),
    ],
    { numRuns: 150 },
  )(
    'under any interleaving: at most one probe in flight per upstream, at most one timer, and it never spins',
    async ({ timeoutMs, intervalMs }, commands) => {
      const clock = new VirtualClock();
      let draws = 0;
      const pending = new Map<string, { settle: (ok: boolean) => void }[]>();
      let inFlight = new Map<string, number>();
      let maxInFlight = 0;
      const checker = new ActiveHealthChecker({
        // Some probes honour their signal, some ignore it and settle only when told to.
        probe: (target, signal) =>
          new Promise<void>((resolve, reject) => {
            const name = target.name;
            const count = (inFlight.get(name) ?? 0) + 1;
            inFlight.set(name, count);
            maxInFlight = Math.max(maxInFlight, count);
            let done = false;
            const settle = (ok: boolean): void => {
              if (done) return;
              done = true;
              inFlight.set(name, (inFlight.get(name) ?? 1) - 1);
              if (ok) resolve();
              else reject(new Error('down'));
            };
            if (draws % 2 === 0)
              signal.addEventListener('abort', () => {
                settle(false);
              });
            pending.set(name, [...(pending.get(name) ?? []), { settle }]);
          }),
        timeoutMs,
        intervalMs,
        jitter: 0.3,
        clock,
        random: () => {
          if (++draws > 100_000) throw new Error('the checker is spinning');
          return (draws * 0.618) % 1;
        },
        targets: [upstream('u0'), upstream('u1'), upstream('u2')],
      }).start();
      for (const cmd of commands) {
        const name = `u${'upstream' in cmd ? cmd.upstream : 0}`;
        if (cmd.kind === 'advance') await clock.advanceAsync(cmd.ms);
        else if (cmd.kind === 'schedule') checker.scheduleProbe(name, cmd.delayMs);
        else if (cmd.kind === 'settle') {
          pending.get(name)?.shift()?.settle(cmd.ok);
          await clock.advanceAsync(0);
        } else if (checker.has(name)) checker.remove(name);
        else checker.add(upstream(name));
        expect(clock.pendingTimers()).toBeLessThanOrEqual(1);
        expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
      }
      expect(maxInFlight).toBeLessThanOrEqual(1);
      checker[Symbol.dispose]();
      expect(clock.pendingTimers()).toBe(0);
      inFlight = new Map();
    },
  );

  it('validates its options with RangeErrors naming the option and the range', () => {
    const probe = async (): Promise<void> => undefined;
    expect(() => new ActiveHealthChecker({ probe, intervalMs: 0 })).toThrow(
      'ActiveHealthChecker: intervalMs must be a number in (0, 2147483647], got 0',
    );
    expect(() => new ActiveHealthChecker({ probe, timeoutMs: -1 })).toThrow(/timeoutMs/);
    expect(() => new ActiveHealthChecker({ probe, jitter: 1.5 })).toThrow(
      'ActiveHealthChecker: jitter must be a number in [0, 1], got 1.5',
    );
    expect(() => new ActiveHealthChecker({ probe, healthyThreshold: 0 })).toThrow(
      'ActiveHealthChecker: healthyThreshold must be an integer >= 1, got 0',
    );
    expect(() => new ActiveHealthChecker({ probe, unhealthyThreshold: 1.5 })).toThrow(
      /unhealthyThreshold must be an integer >= 1/,
    );
    expect(() => new ActiveHealthChecker({ probe, unhealthyIntervalMs: Number.NaN })).toThrow(
      /unhealthyIntervalMs/,
    );
    expect(() => new ActiveHealthChecker({ probe, initialHealth: 'up' as never })).toThrow(
      TypeError,
    );
    expect(() => new ActiveHealthChecker({ probe: 'http' as never })).toThrow(TypeError);
    expect(
      () => new ActiveHealthChecker({ probe, targets: [{ name: '', host: 'h', port: 1 }] }),
    ).toThrow(TypeError);
    expect(
      () => new ActiveHealthChecker({ probe, targets: [{ name: 'a', host: 'h', port: 70_000 }] }),
    ).toThrow('ActiveHealthChecker: port of a must be an integer in [1, 65535], got 70000');
  });

  test.prop(
    [
      fc.record({
        intervalMs: fc.integer({ min: 10, max: 1_000 }),
        jitter: fc.double({ min: 0, max: 1, noNaN: true }),
        upstreams: fc.integer({ min: 1, max: 6 }),
      }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
        minLength: 1,
        maxLength: 50,
      }),
    ],
    { numRuns: 40 },
  )(
    "probes each upstream every interval × (1 ± jitter), first within jitter × interval, on one unref'd timer",
    async ({ intervalMs, jitter, upstreams }, randoms) => {
      const clock = new VirtualClock();
      let i = 0;
      const { calls, probe } = instantProbe(() => true);
      const checker = new ActiveHealthChecker({
        probe: probe(clock),
        intervalMs,
        jitter,
        timeoutMs: 5,
        clock,
        random: () => randoms[i++ % randoms.length] ?? 0,
        targets: Array.from({ length: upstreams }, (_, n) => upstream(`u${n}`)),
      }).start();
      for (let step = 0; step < 40; step++) {
        await clock.advanceAsync(intervalMs / 4);
        expect(clock.pendingTimers()).toBeLessThanOrEqual(1);
        expect(clock.pendingTimers({ referencedOnly: true })).toBe(0);
      }
      checker[Symbol.dispose]();
      expect(clock.pendingTimers()).toBe(0);
      // Timers are armed in whole milliseconds (rounded up), so a probe may start up to 1 ms
      // after its due time, never before it.
      const eps = 1e-6;
      const timerGranularity = 1;
      for (let n = 0; n < upstreams; n++) {
        const starts = calls.filter((c) => c.name === `u${n}`).map((c) => c.at);
        expect(starts.length).toBeGreaterThanOrEqual(4);
        expect(starts[0]).toBeLessThanOrEqual(jitter * intervalMs + timerGranularity + eps);
        for (let k = 1; k < starts.length; k++) {
          const gap = (starts[k] ?? 0) - (starts[k - 1] ?? 0);
          expect(gap).toBeGreaterThanOrEqual(intervalMs * (1 - jitter) - eps);
          expect(gap).toBeLessThanOrEqual(intervalMs * (1 + jitter) + timerGranularity + eps);
        }
      }
    },
  );

  it('spreads upstreams that start together apart, so their probes do not synchronise', async () => {
    const clock = new VirtualClock();
    const { calls, probe } = instantProbe(() => true);
    const checker = new ActiveHealthChecker({
      probe: probe(clock),
      intervalMs: 1_000,
      jitter: 0.2,
      clock,
      targets: Array.from({ length: 10 }, (_, i) => upstream(`u${i}`, 8000 + i)),
    }).start();
    await clock.advanceAsync(5_000);
    checker[Symbol.dispose]();
    const fourth = Array.from(
      { length: 10 },
      (_, i) => calls.filter((c) => c.name === `u${i}`)[3]?.at,
    );
    expect(new Set(fourth).size).toBeGreaterThan(5);
  });

  test.prop(
    [
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
    ],
    { numRuns: 100 },
  )(
    'changes state exactly as the rise/fall model says, one probe result at a time',
    async (healthyThreshold, unhealthyThreshold, outcomes) => {
      const clock = new VirtualClock();
      let next = 0;
      const events: HealthChangeEvent[] = [];
      const checker = new ActiveHealthChecker({
        probe: async () => {
          if (!(outcomes[next++] ?? true)) throw new Error('down');
        },
        intervalMs: 100,
        jitter: 0,
        healthyThreshold,
        unhealthyThreshold,
        clock,
        targets: [upstream('a')],
      });
      checker.onHealthChange((e) => events.push(e));
      checker.start();
      let model: HealthStatus = initialHealthStatus('healthy');
      const expected: string[] = [];
      for (const ok of outcomes) {
        const after = recordProbe(
          model,
          ok ? 'success' : 'failure',
          { healthyThreshold, unhealthyThreshold },
          0,
        );
        if (after.state !== model.state) expected.push(`${model.state}→${after.state}`);
        model = after;
      }
      await clock.advanceAsync(100 * (outcomes.length - 1));
      expect(next).toBe(outcomes.length);
      expect(events.map((e) => `${e.from}→${e.to}`)).toEqual(expected);
      expect(checker.statusOf('a')).toMatchObject({
        state: model.state,
        consecutiveFailures: model.consecutiveFailures,
        consecutiveSuccesses: model.consecutiveSuccesses,
      });
      checker[Symbol.dispose]();
    },
  );

  it('marks an upstream unhealthy on exactly the unhealthyThreshold-th failed probe and back on the healthyThreshold-th success', async () => {
    const clock = new VirtualClock();
    let up = true;
    const { calls, probe } = instantProbe(() => up);
    const events: HealthChangeEvent[] = [];
    const checker = new ActiveHealthChecker({
      probe: probe(clock),
      intervalMs: 1_000,
      jitter: 0,
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      clock,
      targets: [upstream('a'), upstream('b', 8081)],
    });
    checker.onHealthChange((e) => events.push(e));
    checker.start();
    await clock.advanceAsync(0); // first probes at once (jitter 0)
    expect(calls).toHaveLength(2);
    up = false;
    await clock.advanceAsync(2_000); // two failures each
    expect(checker.isAvailable('a')).toBe(true);
    expect(checker.statusOf('a')).toMatchObject({ state: 'healthy', consecutiveFailures: 2 });
    await clock.advanceAsync(1_000); // the third
    expect(checker.statusOf('a')).toMatchObject({
      state: 'unhealthy',
      healthy: false,
      consecutiveFailures: 3,
    });
    expect(checker.statusOf('a')?.lastError).toBeInstanceOf(Error);
    expect(events.map((e) => `${e.upstream} ${e.from}→${e.to} ${e.reason}`)).toEqual([
      'a healthy→unhealthy unhealthy-threshold',
      'b healthy→unhealthy unhealthy-threshold',
    ]);
    expect(events[0]?.error).toBeInstanceOf(Error);
    expect([upstream('a'), upstream('b')].filter(checker.isAvailable)).toEqual([]);
    up = true;
    await clock.advanceAsync(1_000);
    expect(checker.isAvailable(upstream('a'))).toBe(false);
    await clock.advanceAsync(1_000);
    expect(checker.isAvailable(upstream('a'))).toBe(true);
    expect(events.slice(2).map((e) => `${e.upstream} ${e.from}→${e.to} ${e.reason}`)).toEqual([
      'a unhealthy→healthy healthy-threshold',
      'b unhealthy→healthy healthy-threshold',
    ]);
    expect(checker.statusOf('a')).toMatchObject({
      lastResult: 'success',
      lastError: undefined,
      lastProbeAt: 5_000,
    });
    checker[Symbol.dispose]();
  });

  it('cuts a probe at its timeout: the signal aborts with TimeoutError and the failure counts then', async () => {
    const clock = new VirtualClock();
    const hang = hangingProbe({ honourSignal: true });
    const probes: ProbeEvent[] = [];
    const checker = new ActiveHealthChecker({
      probe: hang.probe,
      intervalMs: 1_000,
      timeoutMs: 250,
      jitter: 0,
      unhealthyThreshold: 1,
      clock,
      targets: [upstream('a')],
    });
    checker.onProbe((e) => probes.push(e));
    checker.start();
    await clock.advanceAsync(249);
    expect(hang.calls[0]?.signal.aborted).toBe(false);
    expect(checker.statusOf('a')?.lastResult).toBeUndefined();
    await clock.advanceAsync(1);
    expect(hang.calls[0]?.signal.aborted).toBe(true);
    expect(isTimeoutError(hang.calls[0]?.signal.reason)).toBe(true);
    expect(checker.statusOf('a')).toMatchObject({ state: 'unhealthy', lastResult: 'failure' });
    expect(checker.statusOf('a')?.lastError).toBeInstanceOf(TimeoutError);
    expect(probes).toMatchObject([{ upstream: 'a', ok: false, startedAt: 0, durationMs: 250 }]);
    // The next probe is due one interval after the cut one ended.
    await clock.advanceAsync(999);
    expect(hang.calls).toHaveLength(1);
    await clock.advanceAsync(1);
    expect(hang.calls).toHaveLength(2);
    checker[Symbol.dispose]();
  });

  it('never runs two probes of one upstream at once, even when a probe ignores its signal', async () => {
    const clock = new VirtualClock();
    const hang = hangingProbe({ honourSignal: false });
    const checker = new ActiveHealthChecker({
      probe: hang.probe,
      intervalMs: 100,
      timeoutMs: 50,
      jitter: 0,
      unhealthyThreshold: 3,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(50); // cut at its deadline: one failure, but it is still running
    expect(checker.statusOf('a')?.consecutiveFailures).toBe(1);
    await clock.advanceAsync(200); // two more intervals stuck: two more failures, no new probe
    expect(hang.calls).toHaveLength(1);
    expect(checker.statusOf('a')).toMatchObject({ state: 'unhealthy', consecutiveFailures: 3 });
    hang.calls[0]?.resolve(); // it finally returns; its late result is not counted
    await clock.advanceAsync(0);
    expect(checker.statusOf('a')?.consecutiveFailures).toBe(3);
    await clock.advanceAsync(100);
    expect(hang.calls).toHaveLength(2);
    expect(hang.maxInFlight()).toBe(1);
    checker[Symbol.dispose]();
  });

  it('counts a probe that throws synchronously as a failure', async () => {
    const clock = new VirtualClock();
    const checker = new ActiveHealthChecker({
      probe: {
        probe: () => {
          throw new Error('bad config');
        },
      },
      jitter: 0,
      unhealthyThreshold: 1,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(0);
    expect(checker.statusOf('a')).toMatchObject({ state: 'unhealthy' });
    checker[Symbol.dispose]();
  });

  it('probes less often while unhealthy when unhealthyIntervalMs says so', async () => {
    const clock = new VirtualClock();
    const { calls, probe } = instantProbe(() => false);
    const checker = new ActiveHealthChecker({
      probe: probe(clock),
      intervalMs: 100,
      unhealthyIntervalMs: 1_000,
      jitter: 0,
      unhealthyThreshold: 2,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(3_000);
    expect(calls.map((c) => c.at)).toEqual([0, 100, 1_100, 2_100]);
    checker[Symbol.dispose]();
  });

  it('starts new upstreams unhealthy when initialHealth says so', async () => {
    const clock = new VirtualClock();
    const { probe } = instantProbe(() => true);
    const checker = new ActiveHealthChecker({
      probe: probe(clock),
      intervalMs: 100,
      jitter: 0,
      healthyThreshold: 2,
      initialHealth: 'unhealthy',
      clock,
      targets: [upstream('a')],
    });
    expect(checker.isAvailable('a')).toBe(false);
    checker.start();
    await clock.advanceAsync(0);
    expect(checker.isAvailable('a')).toBe(false);
    await clock.advanceAsync(100);
    expect(checker.isAvailable('a')).toBe(true);
    checker[Symbol.dispose]();
  });

  it('adds and removes upstreams while running; removing one aborts its probe in flight', async () => {
    const clock = new VirtualClock();
    const hang = hangingProbe({ honourSignal: true });
    const probes: ProbeEvent[] = [];
    const checker = new ActiveHealthChecker({
      probe: hang.probe,
      intervalMs: 1_000,
      timeoutMs: 500,
      jitter: 0.2,
      random: () => 0.5,
      clock,
    });
    checker.onProbe((e) => probes.push(e));
    checker.start();
    expect(clock.pendingTimers()).toBe(0); // nothing to check: no timer at all
    checker.add(upstream('a'));
    await clock.advanceAsync(100); // first probe within jitter × interval (here 0.5 × 200)
    expect(hang.calls.map((c) => c.name)).toEqual(['a']);
    expect(checker.remove('a')).toBe(true);
    expect(hang.calls[0]?.signal.aborted).toBe(true);
    expect(hang.calls[0]?.signal.reason).toMatchObject({ name: 'AbortError' });
    await clock.advanceAsync(5_000);
    expect(probes).toEqual([]); // an aborted probe is not an outcome
    expect(hang.calls).toHaveLength(1);
    expect(clock.pendingTimers()).toBe(0);
    expect(checker.remove('a')).toBe(false);
    expect(checker.isAvailable('a')).toBe(true); // unknown upstreams are not refused
    checker[Symbol.dispose]();
  });

  it('keeps the status when an upstream is re-added at the same address, resets it at a new one', async () => {
    const clock = new VirtualClock();
    const { probe } = instantProbe(() => false);
    const checker = new ActiveHealthChecker({
      probe: probe(clock),
      jitter: 0,
      unhealthyThreshold: 1,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(0);
    expect(checker.isAvailable('a')).toBe(false);
    checker.add(upstream('a'));
    expect(checker.isAvailable('a')).toBe(false);
    checker.add(upstream('a', 9090));
    expect(checker.statusOf('a')).toEqual(initialHealthStatus('healthy'));
    expect(checker.targets).toEqual([upstream('a', 9090)]);
    expect(checker.size).toBe(1);
    checker[Symbol.dispose]();
  });

  it('uses a per-upstream probe when one is given', async () => {
    const clock = new VirtualClock();
    const checker = new ActiveHealthChecker({
      probe: async () => undefined,
      jitter: 0,
      unhealthyThreshold: 1,
      clock,
    });
    checker.add(upstream('db'), { probe: () => Promise.reject(new Error('SELECT 1 failed')) });
    checker.add(upstream('web'));
    checker.start();
    await clock.advanceAsync(0);
    expect(checker.isAvailable('db')).toBe(false);
    expect(checker.isAvailable('web')).toBe(true);
    checker[Symbol.dispose]();
  });

  it('brings a probe forward with scheduleProbe, also past one in flight', async () => {
    const clock = new VirtualClock();
    const { calls, probe } = instantProbe(() => true);
    const checker = new ActiveHealthChecker({
      probe: probe(clock),
      intervalMs: 1_000,
      jitter: 0,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(0);
    expect(checker.scheduleProbe('a', 300)).toBe(true);
    expect(checker.scheduleProbe('nope')).toBe(false);
    await clock.advanceAsync(300);
    expect(calls.map((c) => c.at)).toEqual([0, 300]);
    expect(checker.scheduleProbe('a', 5_000)).toBe(true); // later than due: no effect
    await clock.advanceAsync(1_000);
    expect(calls.map((c) => c.at)).toEqual([0, 300, 1_300]);
    checker[Symbol.dispose]();

    // With a probe in flight, the requested probe follows as soon as that one ends.
    const clock2 = new VirtualClock();
    const hang = hangingProbe({ honourSignal: true });
    const slow = new ActiveHealthChecker({
      probe: hang.probe,
      intervalMs: 1_000,
      timeoutMs: 500,
      jitter: 0,
      clock: clock2,
      targets: [upstream('a')],
    }).start();
    await clock2.advanceAsync(0);
    slow.scheduleProbe('a', 100);
    await clock2.advanceAsync(200);
    hang.calls[0]?.resolve();
    await clock2.advanceAsync(0);
    expect(hang.calls).toHaveLength(2);
    await slow[Symbol.asyncDispose]();
  });

  it('honours a probe asked for while one is in flight that then times out, without spinning', async () => {
    // Cooperative: the cut probe settles at its deadline; the asked-for probe follows at once.
    const clock = new VirtualClock();
    const hang = hangingProbe({ honourSignal: true });
    const checker = new ActiveHealthChecker({
      probe: hang.probe,
      intervalMs: 1_000,
      timeoutMs: 100,
      jitter: 0,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(10);
    checker.scheduleProbe('a', 40); // asked for at 50, while the first probe runs
    await clock.advanceAsync(90); // 100: the first probe is cut and settles
    expect(hang.calls).toHaveLength(2);
    expect(checker.statusOf('a')?.consecutiveFailures).toBe(1);
    await checker[Symbol.asyncDispose]();

    // Not cooperative: the stuck probe is looked at once an interval, not in a loop.
    const clock2 = new VirtualClock();
    const stuck = hangingProbe({ honourSignal: false });
    const checker2 = new ActiveHealthChecker({
      probe: stuck.probe,
      intervalMs: 1_000,
      timeoutMs: 100,
      jitter: 0,
      unhealthyThreshold: 10,
      clock: clock2,
      targets: [upstream('a')],
    }).start();
    await clock2.advanceAsync(10);
    checker2.scheduleProbe('a', 40);
    await clock2.advanceAsync(2_090); // deadline at 100, stuck checks at 1 100 and 2 100
    expect(checker2.statusOf('a')?.consecutiveFailures).toBe(3);
    expect(stuck.calls).toHaveLength(1);
    stuck.calls[0]?.resolve(); // it returns at last: the asked-for probe starts right away
    await clock2.advanceAsync(0);
    expect(stuck.calls).toHaveLength(2);
    checker2[Symbol.dispose]();
  });

  it('stops and restarts; after dispose nothing is pending and start() throws', async () => {
    const clock = new VirtualClock();
    const hang = hangingProbe({ honourSignal: true });
    const checker = new ActiveHealthChecker({
      probe: hang.probe,
      intervalMs: 100,
      timeoutMs: 50,
      jitter: 0,
      clock,
      targets: [upstream('a'), upstream('b', 8081)],
    }).start();
    expect(checker.running).toBe(true);
    await clock.advanceAsync(0);
    expect(hang.calls).toHaveLength(2);
    checker.stop();
    expect(checker.running).toBe(false);
    expect(hang.calls.every((c) => c.signal.aborted)).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
    await clock.advanceAsync(1_000);
    expect(hang.calls).toHaveLength(2);
    expect(checker.statusOf('a')?.lastResult).toBeUndefined(); // aborted, not failed
    checker.start();
    await clock.advanceAsync(0);
    expect(hang.calls).toHaveLength(4);
    checker[Symbol.dispose]();
    expect(clock.pendingTimers()).toBe(0);
    expect(hang.calls.every((c) => c.signal.aborted)).toBe(true);
    expect(() => checker.start()).toThrow(/after dispose/);
  });

  it('asyncDispose waits for probes in flight to settle, but not past timeoutMs for one that ignores its signal', async () => {
    const clock = new VirtualClock();
    let settled = false;
    const checker = new ActiveHealthChecker({
      probe: (_t, signal) =>
        new Promise<void>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            setTimeout(() => {
              settled = true;
              reject(signal.reason as Error);
            }, 10);
          });
        }),
      jitter: 0,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(0);
    await checker[Symbol.asyncDispose]();
    expect(settled).toBe(true);
    expect(clock.pendingTimers()).toBe(0);

    const stubborn = hangingProbe({ honourSignal: false });
    const clock2 = new VirtualClock();
    const checker2 = new ActiveHealthChecker({
      probe: stubborn.probe,
      timeoutMs: 300,
      jitter: 0,
      clock: clock2,
      targets: [upstream('a')],
    }).start();
    await clock2.advanceAsync(0);
    let disposed = false;
    const disposing = checker2[Symbol.asyncDispose]().then(() => {
      disposed = true;
    });
    await clock2.advanceAsync(299);
    expect(disposed).toBe(false);
    await clock2.advanceAsync(1);
    await disposing;
    expect(clock2.pendingTimers()).toBe(0);
  });

  it('stays clean when a probe stops the checker from inside', async () => {
    const clock = new VirtualClock();
    let seen: AbortSignal | undefined;
    const checker: ActiveHealthChecker = new ActiveHealthChecker({
      probe: (_t, signal) => {
        seen = signal;
        checker.stop();
        return new Promise<void>(() => undefined);
      },
      jitter: 0,
      clock,
      targets: [upstream('a')],
    }).start();
    await clock.advanceAsync(0);
    expect(seen?.aborted).toBe(true);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('publishes health changes and probe results on its diagnostics channels', async () => {
    const received: string[] = [];
    const onChange = (m: unknown): void => {
      const e = m as HealthChangeEvent;
      if (e.upstream === 'diag') received.push(`${e.upstream} ${e.from}→${e.to}`);
    };
    const onProbe = (m: unknown): void => {
      const e = m as ProbeEvent;
      if (e.upstream === 'diag') received.push(`probe ${e.ok}`);
    };
    diagnostics.subscribe('proxykit:health-check:health-change', onChange);
    diagnostics.subscribe('proxykit:health-check:probe', onProbe);
    try {
      const clock = new VirtualClock();
      const checker = new ActiveHealthChecker({
        probe: () => Promise.reject(new Error('down')),
        jitter: 0,
        unhealthyThreshold: 1,
        clock,
        targets: [upstream('diag')],
      }).start();
      await clock.advanceAsync(0);
      checker[Symbol.dispose]();
    } finally {
      diagnostics.unsubscribe('proxykit:health-check:health-change', onChange);
      diagnostics.unsubscribe('proxykit:health-check:probe', onProbe);
    }
    expect(received).toEqual(['diag healthy→unhealthy', 'probe false']);
  });

  it('has listeners that can be disposed', async () => {
    const clock = new VirtualClock();
    const checker = new ActiveHealthChecker({
      probe: () => Promise.reject(new Error('down')),
      jitter: 0,
      unhealthyThreshold: 1,
      clock,
      targets: [upstream('a')],
    });
    const seen: HealthChangeEvent[] = [];
    const dispose = checker.onHealthChange((e) => seen.push(e));
    dispose();
    checker.start();
    await clock.advanceAsync(0);
    expect(seen).toEqual([]);
    checker[Symbol.dispose]();
  });
});
