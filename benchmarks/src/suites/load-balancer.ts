/**
 * Why: a balancer picks once per request, so its pick must cost next to nothing next to the
 * request itself, at 10 upstreams and at 1 000. This suite measures `pick()` of every policy of
 * @proxykit/load-balancer at both sizes (everything available, nothing in flight, equal weights
 * unless the row says otherwise) against undici's BalancedPool, the one load balancer in the
 * Node.js ecosystem that picks among upstreams — a weighted round robin.
 *
 * undici picks inside `dispatch`, which also queues and sends the request; to time its choice
 * alone this suite calls the method `dispatch` calls, `BalancedPool.prototype[kGetDispatcher]`
 * (found by its symbol's description: it is not public API). A BalancedPool makes one `Pool` per
 * upstream but opens no connection until a request is sent, so nothing here touches the network.
 * Its pick is O(n): it scans every pool for one that is not busy before it rotates.
 *
 * Target: PowerOfTwoChoices under 100 ns per pick at 1 000 upstreams (absolute; read the ns column).
 */
import { KeyedCircuitBreaker } from '@proxykit/circuit-breaker';
import {
  Maglev,
  PeakEwma,
  PowerOfTwoChoices,
  Random,
  RingHash,
  RoundRobin,
  type UpstreamLike,
  WeightedLeastConn,
} from '@proxykit/load-balancer';
import { BalancedPool } from 'undici';
import { defineSuite, type Suite } from '../harness.js';

/** Picks per iteration: spreads the harness's per-iteration cost over many picks. */
const PICKS = 1000;
const SIZES = [10, 1000] as const;

const upstreamsOf = (n: number): UpstreamLike[] =>
  Array.from({ length: n }, (_, i) => ({ name: `10.0.${String(i >> 8)}.${String(i & 255)}:8080` }));
const weightedOf = (n: number): UpstreamLike[] =>
  upstreamsOf(n).map((u, i) => ({ ...u, weight: 1 + (i % 4) }));

/** 1 024 client addresses, the keys the hash policies hash. */
const KEYS = Array.from({ length: 1024 }, (_, i) => `192.168.${String(i >> 8)}.${String(i & 255)}`);

/** undici's internal "pick a pool" method, looked up by its symbol's description. */
const kGetDispatcher = Object.getOwnPropertySymbols(BalancedPool.prototype).find(
  (s) => s.description === 'get dispatcher',
);
if (kGetDispatcher === undefined) throw new Error('undici BalancedPool: kGetDispatcher not found');
const getDispatcher = kGetDispatcher;

let sink: unknown;

/**
 * One loop per policy, each its own function literal: V8 keeps type feedback per literal, so
 * each case's call site sees one class, as it would in a program that uses one policy. (The
 * library's shared pick path still sees every policy in this process: see load-balancer-p2c.)
 */
const loops = {
  roundRobin: (lb: RoundRobin) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = lb.pick();
    sink = last;
  },
  random: (lb: Random) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = lb.pick();
    sink = last;
  },
  leastConn: (lb: WeightedLeastConn) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = lb.pick();
    sink = last;
  },
  p2c: (lb: PowerOfTwoChoices) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = lb.pick();
    sink = last;
  },
  peakEwma: (lb: PeakEwma) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = lb.pick();
    sink = last;
  },
  maglev: (lb: Maglev) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = lb.pick(KEYS[i & 1023]);
    sink = last;
  },
  ringHash: (lb: RingHash) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = lb.pick(KEYS[i & 1023]);
    sink = last;
  },
  undici: (pick: () => unknown) => () => {
    let last: unknown;
    for (let i = 0; i < PICKS; i++) last = pick();
    sink = last;
  },
};

/** undici's BalancedPool with `n` upstreams, and its pick method bound to it. */
export function undiciPicker(n: number): () => unknown {
  const pool = new BalancedPool(
    Array.from({ length: n }, (_, i) => `http://10.0.${String(i >> 8)}.${String(i & 255)}:8080`),
  );
  const pick = (pool as unknown as Record<symbol, (() => unknown) | undefined>)[getDispatcher];
  if (pick === undefined) throw new Error('undici BalancedPool: no pick method');
  return pick.bind(pool);
}

const cases: Record<string, () => void> = {};
const overrides: Record<string, { baseline: string }> = {};
for (const n of SIZES) {
  const undici = `undici BalancedPool ×${String(n)}`;
  const add = (name: string, fn: () => void): void => {
    const label = `${name} ×${String(n)}`;
    cases[label] = fn;
    overrides[label] = { baseline: undici };
  };
  add('undici BalancedPool', loops.undici(undiciPicker(n)));
  const upstreams = upstreamsOf(n);
  add('RoundRobin', loops.roundRobin(new RoundRobin({ upstreams })));
  add(
    'RoundRobin weighted (smooth)',
    loops.roundRobin(new RoundRobin({ upstreams: weightedOf(n) })),
  );
  add('Random', loops.random(new Random({ upstreams })));
  add('Random weighted', loops.random(new Random({ upstreams: weightedOf(n) })));
  add('WeightedLeastConn', loops.leastConn(new WeightedLeastConn({ upstreams })));
  add('PowerOfTwoChoices', loops.p2c(new PowerOfTwoChoices({ upstreams })));
  const breakers = new KeyedCircuitBreaker<string>();
  add(
    'PowerOfTwoChoices + KeyedCircuitBreaker check',
    loops.p2c(new PowerOfTwoChoices({ upstreams, availability: [breakers] })),
  );
  add('PeakEwma', loops.peakEwma(new PeakEwma({ upstreams })));
  add('Maglev (65537 slots)', loops.maglev(new Maglev({ upstreams })));
  add('RingHash (160 per upstream)', loops.ringHash(new RingHash({ upstreams })));
}

const suite: Suite = defineSuite({
  name: 'load-balancer',
  baseline: 'undici BalancedPool ×10',
  callsPerIteration: PICKS,
  cases,
  overrides,
  targets: [
    { case: 'RoundRobin ×10', maxRatio: 1, against: 'undici BalancedPool ×10' },
    { case: 'RoundRobin ×1000', maxRatio: 1, against: 'undici BalancedPool ×1000' },
    { case: 'PowerOfTwoChoices ×1000', maxRatio: 1, against: 'undici BalancedPool ×1000' },
    { case: 'Maglev (65537 slots) ×1000', maxRatio: 1, against: 'undici BalancedPool ×1000' },
  ],
});

export default suite;

/** The last pick, so that the picks are observable and cannot be optimised away. */
export function lastPick(): unknown {
  return sink;
}
