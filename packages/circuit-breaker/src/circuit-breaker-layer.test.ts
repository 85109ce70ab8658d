import diagnostics from 'node:diagnostics_channel';
import { fc, test } from '@fast-check/vitest';
import {
  BrokenCircuitError,
  createContext,
  isBrokenCircuitError,
  TimeoutError,
  VirtualClock,
} from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { BreakerPermit } from './breaker-permit.js';
import { CircuitBreakerLayer } from './circuit-breaker-layer.js';
import { failureRate } from './failure-rate.js';

/** The reference model: the breaker's rules written as plainly as possible. */
class Model {
  state: 'closed' | 'open' | 'half-open' = 'closed';
  failures = 0;
  openUntil = 0;
  generation = 0;
  probes = 0;
  successes = 0;

  constructor(
    readonly cfg: {
      failureThreshold: number;
      resetTimeoutMs: number;
      successThreshold: number;
      halfOpenMaxProbes: number;
    },
  ) {}

  admit(now: number): 'reject' | { probe: false } | { probe: true; generation: number } {
    if (this.state === 'closed') return { probe: false };
    if (this.state === 'open') {
      if (now < this.openUntil) return 'reject';
      this.#to('half-open');
    }
    if (this.probes >= this.cfg.halfOpenMaxProbes) return 'reject';
    this.probes++;
    return { probe: true, generation: this.generation };
  }

  finish(
    ticket: { probe: false } | { probe: true; generation: number },
    outcome: Outcome,
    now: number,
  ): void {
    if (!ticket.probe) {
      if (this.state !== 'closed' || outcome === 'abort') return;
      if (outcome === 'success') this.failures = 0;
      else if (++this.failures >= this.cfg.failureThreshold) this.#open(now);
      return;
    }
    this.probes--; // a probe holds its slot until it settles, whatever happened meanwhile
    if (this.state !== 'half-open' || ticket.generation !== this.generation) return;
    if (outcome === 'abort') return;
    if (outcome === 'failure') this.#open(now);
    else if (++this.successes >= this.cfg.successThreshold) {
      this.failures = 0;
      this.#to('closed');
    }
  }

  #open(now: number): void {
    this.openUntil = now + this.cfg.resetTimeoutMs;
    this.#to('open');
  }

  #to(state: Model['state']): void {
    this.state = state;
    this.generation++;
    this.successes = 0;
  }
}

type Outcome = 'success' | 'failure' | 'abort';

const command = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('start' as const),
      // Through `wrap` (the breaker watches the promise) or a permit (the caller reports).
      via: fc.constantFrom('wrap' as const, 'permit' as const),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('finish' as const),
      pick: fc.nat(),
      outcome: fc.constantFrom<Outcome>('success', 'failure', 'abort'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 120 }),
    }),
  },
);

function connectionRefused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CircuitBreakerLayer', () => {
  test.prop(
    [
      fc.record({
        failureThreshold: fc.integer({ min: 1, max: 4 }),
        resetTimeoutMs: fc.integer({ min: 1, max: 100 }),
        successThreshold: fc.integer({ min: 1, max: 3 }),
        halfOpenMaxProbes: fc.integer({ min: 1, max: 3 }),
      }),
      fc.array(command, { minLength: 30, maxLength: 150, size: 'max' }),
    ],
    { numRuns: 200 },
  )('decides every call exactly as the reference model, on virtual time', async (cfg, commands) => {
    const clock = new VirtualClock();
    const breaker = new CircuitBreakerLayer({ ...cfg, clock });
    const model = new Model(cfg);
    type Pending = {
      ticket: { probe: false } | { probe: true; generation: number };
      resolve: (v: string) => void;
      reject: (e: unknown) => void;
      controller: AbortController;
    };
    /** A permit's call reports synchronously; the breaker must ignore any report after the first. */
    const permitCall = (ticket: Pending['ticket'], permit: BreakerPermit): Pending => {
      const controller = new AbortController();
      return {
        ticket,
        controller,
        resolve: (v) => {
          permit.resolved(v);
          if (ticket.probe) permit.rejected(connectionRefused()); // ignored: reported already
        },
        reject: (e) => {
          permit.rejected(e, controller.signal);
          if (ticket.probe) permit.resolved('late'); // ignored: reported already
        },
      };
    };
    const pending: Pending[] = [];
    let runningProbes = 0;
    for (const cmd of commands) {
      if (cmd.kind === 'start' && cmd.via === 'permit') {
        const expected = model.admit(clock.now());
        const wasOpen = breaker.state === 'open' && !breaker.isAvailable;
        const permit = breaker.tryAcquire();
        expect(permit === undefined).toBe(expected === 'reject');
        if (wasOpen) expect(permit).toBeUndefined(); // an open breaker never admits a call
        if (permit === undefined) expect(breaker.rejection()).toBeInstanceOf(BrokenCircuitError);
        else if (expected !== 'reject') {
          pending.push(permitCall(expected, permit));
          if (expected.probe) runningProbes++;
        }
        expect(runningProbes).toBeLessThanOrEqual(cfg.halfOpenMaxProbes);
      } else if (cmd.kind === 'start') {
        const expected = model.admit(clock.now());
        const wasOpen = breaker.state === 'open' && !breaker.isAvailable;
        const controller = new AbortController();
        let ran = false;
        let entry: Pending | undefined;
        const result = breaker.wrap(
          () =>
            new Promise<string>((resolve, reject) => {
              ran = true;
              if (expected !== 'reject') {
                entry = { ticket: expected, resolve, reject, controller };
                if (expected.probe) runningProbes++;
              }
            }),
        )(null, createContext({ signal: controller.signal }));
        result.catch(() => undefined);
        expect(ran).toBe(expected !== 'reject');
        if (wasOpen) expect(ran).toBe(false); // an open breaker never admits a call
        if (expected === 'reject') await expect(result).rejects.toBeInstanceOf(BrokenCircuitError);
        else pending.push(entry!);
        expect(runningProbes).toBeLessThanOrEqual(cfg.halfOpenMaxProbes);
      } else if (cmd.kind === 'finish') {
        if (pending.length === 0) continue;
        const [call] = pending.splice(cmd.pick % pending.length, 1);
        if (call!.ticket.probe) runningProbes--;
        if (cmd.outcome === 'success') call!.resolve('ok');
        else if (cmd.outcome === 'failure') call!.reject(connectionRefused());
        else {
          call!.controller.abort();
          call!.reject(call!.controller.signal.reason);
        }
        await flush();
        model.finish(call!.ticket, cmd.outcome, clock.now());
      } else {
        clock.advance(cmd.ms);
      }
      expect(breaker.state).toBe(model.state);
    }
    expect(clock.pendingTimers()).toBe(0); // no timer, ever
  });

  it('opens after failureThreshold consecutive failures and rejects at once with retryAfterMs', async () => {
    const clock = new VirtualClock();
    const breaker = new CircuitBreakerLayer({ failureThreshold: 3, resetTimeoutMs: 1_000, clock });
    let calls = 0;
    const failing = breaker.wrap(async () => {
      calls++;
      throw connectionRefused();
    });
    for (let i = 0; i < 3; i++) await expect(failing(null)).rejects.toThrow('ECONNREFUSED');
    expect(breaker.state).toBe('open');
    clock.advance(400);
    const rejection = await failing(null).catch((e: unknown) => e);
    expect(isBrokenCircuitError(rejection)).toBe(true);
    expect((rejection as BrokenCircuitError).retryAfterMs).toBe(600);
    expect(calls).toBe(3);
    expect(breaker.retryAfterMs).toBe(600);
  });

  it('does not count 4xx results, successes in between, or caller aborts as failures', async () => {
    const breaker = new CircuitBreakerLayer({ failureThreshold: 2 });
    await breaker.execute(async () => ({ status: 404 }));
    await breaker.execute(async () => ({ status: 400 }));
    const controller = new AbortController();
    controller.abort();
    for (let i = 0; i < 5; i++) {
      await expect(
        breaker.execute(() => Promise.reject(connectionRefused()), controller.signal),
      ).rejects.toThrow();
    }
    expect(breaker.state).toBe('closed');
    await breaker.execute(async () => ({ status: 503 }));
    await breaker.execute(async () => ({ status: 502 }));
    expect(breaker.state).toBe('open');
  });

  it('counts a TimeoutError and a deadline-aborted signal as failures', async () => {
    const breaker = new CircuitBreakerLayer({ failureThreshold: 2 });
    await expect(breaker.execute(() => Promise.reject(new TimeoutError(10)))).rejects.toThrow();
    const controller = new AbortController();
    controller.abort(new TimeoutError(10));
    await expect(
      breaker.execute(
        () => Promise.reject(new DOMException('aborted', 'AbortError')),
        controller.signal,
      ),
    ).rejects.toThrow();
    expect(breaker.state).toBe('open');
  });

  it('half-open: admits halfOpenMaxProbes probes, rejects the rest, closes after successThreshold', async () => {
    const clock = new VirtualClock();
    const breaker = new CircuitBreakerLayer({
      failureThreshold: 1,
      resetTimeoutMs: 100,
      successThreshold: 2,
      halfOpenMaxProbes: 2,
      clock,
    });
    const changes: string[] = [];
    breaker.onStateChange(({ from, to, reason }) => changes.push(`${from}→${to} (${reason})`));
    await expect(breaker.execute(() => Promise.reject(connectionRefused()))).rejects.toThrow();
    clock.advance(100);
    const gates: ((v: string) => void)[] = [];
    const probe = (): Promise<string> =>
      breaker.execute(() => new Promise<string>((r) => gates.push(r)));
    const p1 = probe();
    const p2 = probe();
    await expect(probe()).rejects.toMatchObject({ retryAfterMs: 0 });
    expect(breaker.state).toBe('half-open');
    gates[0]!('a');
    gates[1]!('b');
    await Promise.all([p1, p2]);
    expect(breaker.state).toBe('closed');
    expect(changes).toEqual([
      'closed→open (tripped)',
      'open→half-open (reset-timeout-elapsed)',
      'half-open→closed (probes-succeeded)',
    ]);
  });

  it('times permits too when slowCallThresholdMs is set: a slow success reported on one is a failure', () => {
    const clock = new VirtualClock();
    const breaker = new CircuitBreakerLayer({
      failureThreshold: 2,
      slowCallThresholdMs: 50,
      clock,
    });
    const fast = breaker.tryAcquire()!;
    const slow = breaker.tryAcquire()!;
    expect(slow).not.toBe(fast); // each timed call has its own permit
    clock.advance(10);
    fast.resolved('quick');
    clock.advance(60);
    slow.resolved('late');
    slow.resolved('late again'); // a second report is ignored
    expect(breaker.state).toBe('closed');
    const slower = breaker.tryAcquire()!;
    clock.advance(51);
    slower.resolved('late');
    expect(breaker.state).toBe('open');
  });

  it('counts a slow success as a failure when slowCallThresholdMs is set', async () => {
    const clock = new VirtualClock();
    const breaker = new CircuitBreakerLayer({
      failureThreshold: 1,
      slowCallThresholdMs: 50,
      clock,
    });
    const failures: boolean[] = [];
    breaker.onFailure(({ slow }) => failures.push(slow));
    await breaker.execute(async () => 'fast');
    expect(breaker.state).toBe('closed');
    const slow = breaker.execute(
      () =>
        new Promise<string>((r) => {
          clock.setTimer(() => {
            r('slow');
          }, 51);
        }),
    );
    await clock.advanceAsync(51);
    await expect(slow).resolves.toBe('slow');
    await flush();
    expect(failures).toEqual([true]);
    expect(breaker.state).toBe('open');
  });

  it('isolate() forces it open until every isolation is released; reset() closes it', async () => {
    const breaker = new CircuitBreakerLayer();
    const release1 = breaker.isolate();
    const release2 = breaker.isolate();
    expect(breaker.state).toBe('isolated');
    const error = await breaker.execute(async () => 1).catch((e: unknown) => e);
    expect(error).toMatchObject({ isolated: true, retryAfterMs: Infinity });
    release1();
    expect(breaker.state).toBe('isolated');
    release2();
    release2();
    expect(breaker.state).toBe('closed');
    using _isolation = breaker.isolate();
    breaker.reset();
    expect(breaker.state).toBe('closed');
    await expect(breaker.execute(async () => 'runs')).resolves.toBe('runs');
  });

  it('snapshots and restores, carrying the remaining open time across processes', async () => {
    const clock = new VirtualClock();
    const first = new CircuitBreakerLayer({ failureThreshold: 1, resetTimeoutMs: 10_000, clock });
    await expect(first.execute(() => Promise.reject(connectionRefused()))).rejects.toThrow();
    clock.advance(4_000);
    const snapshot = JSON.parse(JSON.stringify(first)) as ReturnType<CircuitBreakerLayer['toJSON']>;
    expect(snapshot).toMatchObject({ state: 'open', retryAfterMs: 6_000 });
    const secondClock = new VirtualClock(50);
    const second = new CircuitBreakerLayer({
      resetTimeoutMs: 10_000,
      clock: secondClock,
      initialState: snapshot,
    });
    expect(second.state).toBe('open');
    expect(second.retryAfterMs).toBeGreaterThan(5_900);
    expect(second.retryAfterMs).toBeLessThanOrEqual(6_000);
    for (const state of ['closed', 'isolated'] as const) {
      second.restore({ state, savedAt: Date.now() });
      expect(second.state).toBe(state);
    }
    second.restore({ state: 'half-open', savedAt: Date.now() });
    expect(second.isAvailable).toBe(true);
  });

  it('rejects malformed snapshots with a readable TypeError', () => {
    const breaker = new CircuitBreakerLayer();
    expect(() => {
      breaker.restore({ state: 'ajar', savedAt: 0 } as never);
    }).toThrow(
      'CircuitBreakerLayer.restore: state must be one of closed, open, half-open, isolated, got "ajar"',
    );
    expect(() => {
      breaker.restore({ state: 'open', savedAt: 0, retryAfterMs: -1 });
    }).toThrow('retryAfterMs must be a number >= 0');
  });

  it('emits onReject, onFailure and onSuccess with disposers', async () => {
    const breaker = new CircuitBreakerLayer({ failureThreshold: 1 });
    const seen: string[] = [];
    const offs = [
      breaker.onSuccess(({ outcome }) => seen.push(`success ${outcome}`)),
      breaker.onFailure(({ outcome }) => seen.push(`failure ${outcome}`)),
      breaker.onReject(({ state }) => seen.push(`reject ${state}`)),
    ];
    await breaker.execute(async () => 1);
    await expect(breaker.execute(() => Promise.reject(connectionRefused()))).rejects.toThrow();
    await flush();
    await expect(breaker.execute(async () => 1)).rejects.toThrow(BrokenCircuitError);
    for (const off of offs) off();
    await expect(breaker.execute(async () => 1)).rejects.toThrow(BrokenCircuitError);
    expect(seen).toEqual(['success success', 'failure upstream', 'reject open']);
  });

  it('publishes transitions and rejections on its diagnostics channels', async () => {
    const received: string[] = [];
    const onChange = (message: unknown): void => {
      const { from, to } = message as { from: string; to: string };
      received.push(`${from}→${to}`);
    };
    const onReject = (message: unknown): void => {
      received.push(`reject ${(message as { state: string }).state}`);
    };
    diagnostics.subscribe('proxykit:circuit-breaker:state-change', onChange);
    diagnostics.subscribe('proxykit:circuit-breaker:reject', onReject);
    try {
      const breaker = new CircuitBreakerLayer({ failureThreshold: 1 });
      await expect(breaker.execute(() => Promise.reject(connectionRefused()))).rejects.toThrow();
      await flush();
      await expect(breaker.execute(async () => 1)).rejects.toThrow(BrokenCircuitError);
    } finally {
      diagnostics.unsubscribe('proxykit:circuit-breaker:state-change', onChange);
      diagnostics.unsubscribe('proxykit:circuit-breaker:reject', onReject);
    }
    expect(received).toEqual(['closed→open', 'reject open']);
  });

  it('trips on a failure rate once the window has minimumThroughput calls', async () => {
    const clock = new VirtualClock();
    const breaker = new CircuitBreakerLayer({
      strategy: failureRate({ threshold: 0.5, windowMs: 1_000, minimumThroughput: 4 }),
      clock,
    });
    const fail = (): Promise<unknown> =>
      breaker
        .execute(() => Promise.reject(connectionRefused()))
        .catch(() => {
          // expected: the call fails
        });
    await fail();
    await fail();
    await fail();
    await flush();
    expect(breaker.state).toBe('closed'); // three calls at night do not trip it
    await breaker.execute(async () => 'ok');
    await fail();
    await flush();
    expect(breaker.state).toBe('open');
  });

  it('validates options with messages naming the option and its range', () => {
    const cases: [object, string][] = [
      [
        { failureThreshold: -1 },
        'CircuitBreakerLayer: failureThreshold must be an integer >= 1, got -1',
      ],
      [{ failureThreshold: Number.NaN }, 'failureThreshold must be an integer >= 1, got NaN'],
      [
        { successThreshold: 0 },
        'CircuitBreakerLayer: successThreshold must be an integer >= 1, got 0',
      ],
      [
        { resetTimeoutMs: -5 },
        'CircuitBreakerLayer: resetTimeoutMs must be a number in (0, 2147483647], got -5',
      ],
      [
        { resetTimeoutMs: Number.NaN },
        'resetTimeoutMs must be a number in (0, 2147483647], got NaN',
      ],
      [{ halfOpenMaxProbes: 0 }, 'halfOpenMaxProbes must be an integer >= 1, got 0'],
      [
        { slowCallThresholdMs: 0 },
        'slowCallThresholdMs must be a number in (0, 2147483647], got 0',
      ],
    ];
    for (const [options, message] of cases) {
      expect(() => new CircuitBreakerLayer(options)).toThrow(RangeError);
      expect(() => new CircuitBreakerLayer(options)).toThrow(message);
    }
    expect(() => failureRate({ threshold: 1.5 })).toThrow(
      'failureRate: threshold must be a number in (0, 1], got 1.5',
    );
    expect(
      () =>
        new CircuitBreakerLayer({ failureThreshold: 3, strategy: failureRate({ threshold: 0.5 }) }),
    ).toThrow('give failureThreshold or strategy, not both');
  });
});
