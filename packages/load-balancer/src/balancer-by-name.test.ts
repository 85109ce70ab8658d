import { describe, expect, it } from 'vitest';
import { BALANCER_POLICIES, balancerByName } from './balancer-by-name.js';
import { Maglev } from './maglev.js';
import { PeakEwma } from './peak-ewma.js';
import { PowerOfTwoChoices } from './power-of-two-choices.js';
import { Random } from './random.js';
import { RoundRobin } from './round-robin.js';
import { WeightedLeastConn } from './weighted-least-conn.js';

const upstreams = ['a', 'b', 'c'].map((name) => ({ name }));

describe('balancerByName', () => {
  it('creates the balancer each configuration name stands for', () => {
    const kinds = BALANCER_POLICIES.map((policy) => balancerByName(policy, { upstreams }));
    expect(kinds.map((b) => b.constructor)).toEqual([
      RoundRobin,
      Random,
      WeightedLeastConn,
      PowerOfTwoChoices,
      PeakEwma,
      Maglev,
    ]);
    for (const balancer of kinds) expect(upstreams).toContain(balancer.pick('10.0.0.1'));
  });

  it('passes the availability checks and, for maglev, the key', () => {
    const skipB = (u: { name: string }): boolean => u.name !== 'b';
    const rr = balancerByName('round_robin', { upstreams, availability: [skipB] });
    const picks = Array.from({ length: 6 }, () => rr.pick()?.name);
    expect(picks).not.toContain('b');
    const byClient = balancerByName<{ name: string }, { ip: string }>('maglev', {
      upstreams,
      key: (request) => request.ip,
    });
    const first = byClient.pick({ ip: '192.0.2.7' });
    for (let i = 0; i < 20; i++) expect(byClient.pick({ ip: '192.0.2.7' })).toBe(first);
  });

  it('refuses an unknown name, listing the names allowed', () => {
    expect(() => balancerByName('least_connections', { upstreams })).toThrow(
      new RangeError(
        'balancerByName: policy must be one of round_robin, random, least_conn, p2c, peak_ewma, maglev, got "least_connections"',
      ),
    );
  });
});
