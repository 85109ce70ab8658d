/**
 * A deterministic simulation on virtual time: four upstreams of mixed capacity — three fast ones
 * (10 ms mean service time) and one slow one (100 ms, 10× slower), each running 8 calls at once
 * and queueing the rest — behind each policy, with Poisson arrivals at 250 calls/s from a seeded
 * random source. Round robin gives the slow upstream its 25 %, which it can barely serve (78 %
 * busy), so calls queue on it; least-loaded and latency-aware policies route around it. The
 * figures printed here are the README's.
 */
import { VirtualClock } from '@proxykit/core';
import { describe, expect, it } from 'vitest';
import type { LoadBalancer } from './load-balancer.js';
import { PeakEwma } from './peak-ewma.js';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { seededRandom, type RandomSource } from './random-source.js';
import { Random } from './random.js';
import { RoundRobin } from './round-robin.js';
import type { UpstreamEntry } from './upstream-entry.js';
import { WeightedLeastConn } from './weighted-least-conn.js';

interface Server {
  readonly name: string;
  readonly meanMs: number;
  busy: number;
  readonly queue: (() => void)[];
}

interface Event {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** A binary min-heap of events by time, then by creation order. */
class Agenda {
  readonly #items: Event[] = [];
  #seq = 0;

  schedule(at: number, run: () => void): void {
    const items = this.#items;
    items.push({ at, seq: this.#seq++, run });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  next(): Event | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        let smallest = i;
        if (left < items.length && this.#before(left, smallest)) smallest = left;
        if (left + 1 < items.length && this.#before(left + 1, smallest)) smallest = left + 1;
        if (smallest === i) break;
        this.#swap(i, smallest);
        i = smallest;
      }
    }
    return top;
  }

  #before(i: number, j: number): boolean {
    const a = this.#items[i]!;
    const b = this.#items[j]!;
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const items = this.#items;
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

const RATE_PER_S = 250;
const CALLS = 20_000;
const WORKERS = 8;
const MEANS_MS = [10, 10, 10, 100];

interface Figures {
  readonly p50: number;
  readonly p99: number;
  readonly slowShare: number;
}

function simulate(
  make: (clock: VirtualClock, random: RandomSource) => LoadBalancer<Server>,
  seed: number,
): Figures {
  const clock = new VirtualClock();
  const random = seededRandom(seed);
  const balancer = make(clock, seededRandom(seed + 1));
  for (const [i, meanMs] of MEANS_MS.entries()) {
    balancer.add({ name: `u${String(i)}`, meanMs, busy: 0, queue: [] });
  }
  const agenda = new Agenda();
  const exponential = (mean: number): number => -mean * Math.log(1 - random());
  const latencies: number[] = [];
  let toSlow = 0;
  let t = 0;
  for (let i = 0; i < CALLS; i++) {
    t += exponential(1000 / RATE_PER_S);
    const arrival = t;
    agenda.schedule(arrival, () => {
      const entry = balancer.pickEntry() as UpstreamEntry<Server>;
      const server = entry.upstream;
      if (server.meanMs > 10) toSlow++;
      const startedAt = balancer.begin(entry);
      const serve = (): void => {
        server.busy++;
        agenda.schedule(clock.now() + exponential(server.meanMs), () => {
          server.busy--;
          balancer.end(entry, startedAt);
          latencies.push(clock.now() - arrival);
          server.queue.shift()?.();
        });
      };
      if (server.busy < WORKERS) serve();
      else server.queue.push(serve);
    });
  }
  for (let event = agenda.next(); event !== undefined; event = agenda.next()) {
    clock.advance(event.at - clock.now());
    event.run();
  }
  latencies.sort((a, b) => a - b);
  const quantile = (q: number): number => latencies[Math.floor(q * latencies.length)]!;
  return { p50: quantile(0.5), p99: quantile(0.99), slowShare: toSlow / CALLS };
}

describe('simulation: mixed-capacity upstreams on virtual time', () => {
  it('P2C and PeakEwma cut p99 latency against round robin (deterministic, seeded)', () => {
    const policies: Record<
      string,
      (clock: VirtualClock, random: RandomSource) => LoadBalancer<Server>
    > = {
      RoundRobin: (clock) => new RoundRobin({ clock }),
      Random: (clock, random) => new Random({ clock, random }),
      WeightedLeastConn: (clock, random) => new WeightedLeastConn({ clock, random }),
      PowerOfTwoChoices: (clock, random) => new PowerOfTwoChoices({ clock, random }),
      PeakEwma: (clock, random) => new PeakEwma({ clock, random }),
    };
    const figures = Object.fromEntries(
      Object.entries(policies).map(([name, make]) => [name, simulate(make, 7)]),
    );
    const roundRobin = figures.RoundRobin!;
    const lines = Object.entries(figures).map(
      ([name, f]) =>
        `${name.padEnd(18)} p50 ${f.p50.toFixed(1).padStart(6)} ms  p99 ${f.p99.toFixed(1).padStart(6)} ms  ` +
        `(${(f.p99 / roundRobin.p99).toFixed(2)}× round robin)  slow upstream got ${(f.slowShare * 100).toFixed(1)} %`,
    );
    console.log(`\n${lines.join('\n')}`);
    // Margins: P2C at most 0.75× round robin's p99, PeakEwma at most 0.25×.
    expect(figures.PowerOfTwoChoices!.p99).toBeLessThan(0.75 * roundRobin.p99);
    expect(figures.PeakEwma!.p99).toBeLessThan(0.25 * roundRobin.p99);
    expect(figures.WeightedLeastConn!.p99).toBeLessThan(0.75 * roundRobin.p99);
    expect(roundRobin.slowShare).toBe(0.25);
    expect(figures.PeakEwma!.slowShare).toBeLessThan(0.02);
    // Same seed, same figures.
    expect(simulate(policies.PeakEwma!, 7)).toEqual(figures.PeakEwma);
  });
});
