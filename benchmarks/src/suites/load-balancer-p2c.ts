/**
 * Why: the `load-balancer` suite measures every policy in one process, so the library's shared
 * pick path (`pick` → `select`) sees seven classes there and V8 dispatches it megamorphically.
 * A program normally uses one policy; this suite measures PowerOfTwoChoices alone in its own
 * process, against undici's BalancedPool, the way such a program runs it.
 *
 * Target: PowerOfTwoChoices under 100 ns per pick at 1 000 upstreams (absolute; read the ns column).
 */
import { PowerOfTwoChoices, type UpstreamLike } from '@proxykit/load-balancer';
import { defineSuite, type Suite } from '../harness.js';
import { undiciPicker } from './load-balancer.js';

const PICKS = 1000;
let sink: unknown;

const upstreamsOf = (n: number): UpstreamLike[] =>
  Array.from({ length: n }, (_, i) => ({ name: `10.0.${String(i >> 8)}.${String(i & 255)}:8080` }));

const p2cLoop = (lb: PowerOfTwoChoices) => () => {
  let last: unknown;
  for (let i = 0; i < PICKS; i++) last = lb.pick();
  sink = last;
};
const undiciLoop = (pick: () => unknown) => () => {
  let last: unknown;
  for (let i = 0; i < PICKS; i++) last = pick();
  sink = last;
};

const suite: Suite = defineSuite({
  name: 'load-balancer-p2c',
  baseline: 'undici BalancedPool ×1000',
  callsPerIteration: PICKS,
  cases: {
    'undici BalancedPool ×10': undiciLoop(undiciPicker(10)),
    'PowerOfTwoChoices ×10': p2cLoop(new PowerOfTwoChoices({ upstreams: upstreamsOf(10) })),
    'undici BalancedPool ×1000': undiciLoop(undiciPicker(1000)),
    'PowerOfTwoChoices ×1000': p2cLoop(new PowerOfTwoChoices({ upstreams: upstreamsOf(1000) })),
  },
  overrides: {
    'PowerOfTwoChoices ×10': { baseline: 'undici BalancedPool ×10' },
  },
  targets: [
    { case: 'PowerOfTwoChoices ×1000', maxRatio: 0.05, against: 'undici BalancedPool ×1000' },
  ],
});

export default suite;

/** The last pick, so that the picks are observable and cannot be optimised away. */
export function lastPick(): unknown {
  return sink;
}
