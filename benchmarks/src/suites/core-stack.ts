/**
 * Why: every layer a request passes through adds a call and a closure. This suite measures what
 * `stack()` of do-nothing layers costs over a bare async call. Target: 5 identity layers at most
 * 1.5× the bare call's time.
 */
import { type Handler, type Layer, rootContext, type Service, stack } from '@proxykit/core';
import { defineSuite, type Suite } from '../harness.js';
import { CALLS, echo } from '../fixtures.js';

/** A layer that only passes the call on: the cheapest layer there can be. */
const identity: Layer = {
  wrap:
    <Req, Res>(next: Handler<Req, Res>): Service<Req, Res> =>
    (req, ctx = rootContext) =>
      next(req, ctx),
};

const through = (layers: number): Service<number, number> =>
  stack(...Array.from({ length: layers }, () => identity)).wrap(echo);

const stack1 = through(1);
const stack5 = through(5);
const stack10 = through(10);

const suite: Suite = defineSuite({
  name: 'core-stack',
  bare: 'bare async call',
  baseline: 'bare async call',
  cases: {
    'bare async call': async () => {
      for (let i = 0; i < CALLS; i++) await echo(1);
    },
    'stack of 1 identity layer': async () => {
      for (let i = 0; i < CALLS; i++) await stack1(1);
    },
    'stack of 5 identity layers': async () => {
      for (let i = 0; i < CALLS; i++) await stack5(1);
    },
    'stack of 10 identity layers': async () => {
      for (let i = 0; i < CALLS; i++) await stack10(1);
    },
  },
  callsPerIteration: CALLS,
  targets: [{ case: 'stack of 5 identity layers', maxRatio: 1.5 }],
});

export default suite;
