import type { IncomingHttpHeaders } from 'node:http';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { forwardingHeaders } from './forwarded-headers.js';
import { parseIp, TrustedProxies } from './trusted-proxies.js';

const none = TrustedProxies.parse([]);
const loopback = TrustedProxies.parse(['127.0.0.0/8', '::1']);

function forward(
  peerAddress: string,
  headers: IncomingHttpHeaders,
  trusted: TrustedProxies = loopback,
  encrypted = false,
): ReturnType<typeof forwardingHeaders> {
  return forwardingHeaders({ peerAddress, headers, encrypted, trusted });
}

describe('forwardingHeaders from an untrusted peer', () => {
  it('replaces every incoming forwarding header', () => {
    expect(
      forward('203.0.113.7', {
        host: 'shop.example',
        'x-forwarded-for': '1.1.1.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=1.1.1.1;proto=https',
      }),
    ).toEqual({
      clientIp: '203.0.113.7',
      headers: {
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': 'shop.example',
        forwarded: 'for=203.0.113.7;host=shop.example;proto=http',
      },
    });
  });

  it('quotes an IPv6 node and a host with a port (RFC 7239 §6)', () => {
    const { clientIp, headers } = forward('2001:db8::7', { host: 'shop.example:8443' }, none, true);
    expect(clientIp).toBe('2001:db8::7');
    expect(headers.forwarded).toBe('for="[2001:db8::7]";host="shop.example:8443";proto=https');
    expect(headers['x-forwarded-proto']).toBe('https');
    expect(headers['x-forwarded-for']).toBe('2001:db8::7');
  });

  it('writes an IPv4 peer seen through a dual-stack socket as IPv4', () => {
    expect(forward('::ffff:203.0.113.7', { host: 'a' }).clientIp).toBe('203.0.113.7');
    expect(forward('::ffff:203.0.113.7', { host: 'a' }).headers.forwarded).toBe(
      'for=203.0.113.7;host=a;proto=http',
    );
  });

  it('writes for=unknown when the socket has no address any more (RFC 7239 §6.2)', () => {
    expect(forward('', { host: 'a' }).headers.forwarded).toBe('for=unknown;host=a;proto=http');
  });

  it('gives an empty X-Forwarded-Host when there is no Host (HTTP/1.0)', () => {
    expect(forward('203.0.113.7', {}).headers['x-forwarded-host']).toBe('');
  });
});

describe('forwardingHeaders from a trusted peer', () => {
  it('appends to the chain and takes the rightmost untrusted hop as the client', () => {
    const { clientIp, headers } = forward('127.0.0.1', {
      host: 'internal:8000',
      'x-forwarded-for': '6.6.6.6, 198.51.100.1, 127.0.0.2',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example',
      forwarded: 'for=6.6.6.6, for=198.51.100.1;proto=https, for=127.0.0.2',
    });
    expect(clientIp).toBe('198.51.100.1');
    expect(headers).toEqual({
      'x-forwarded-for': '6.6.6.6, 198.51.100.1, 127.0.0.2, 127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example',
      forwarded:
        'for=6.6.6.6, for=198.51.100.1;proto=https, for=127.0.0.2, for=127.0.0.1;host="internal:8000";proto=http',
    });
  });

  it('reads the chain from Forwarded when there is no X-Forwarded-For, IPv6 and ports included', () => {
    expect(
      forward('::1', { host: 'a', forwarded: 'for="[2001:db8::9]:4711";proto=https, For="[::1]"' })
        .clientIp,
    ).toBe('2001:db8::9');
    expect(
      forward('::1', { host: 'a', forwarded: 'for=192.0.2.60:8080, for=127.0.0.9' }).clientIp,
    ).toBe('192.0.2.60');
  });

  it('reads ports and brackets in X-Forwarded-For', () => {
    expect(forward('127.0.0.1', { 'x-forwarded-for': '192.0.2.1:5555' }).clientIp).toBe(
      '192.0.2.1',
    );
    expect(forward('127.0.0.1', { 'x-forwarded-for': '[2001:db8::1]:5555' }).clientIp).toBe(
      '2001:db8::1',
    );
    expect(forward('127.0.0.1', { 'x-forwarded-for': '2001:db8::1' }).clientIp).toBe('2001:db8::1');
  });

  it('joins repeated headers and stops at a hop that is not an address', () => {
    expect(
      forward('127.0.0.1', { 'x-forwarded-for': ['192.0.2.1', 'unknown, 127.0.0.5'] }).clientIp,
    ).toBe('127.0.0.5');
    expect(forward('127.0.0.1', { forwarded: 'for=_hidden' }).clientIp).toBe('127.0.0.1');
  });

  it('takes the leftmost hop when every hop is trusted, the peer when there is no chain', () => {
    expect(forward('127.0.0.1', { 'x-forwarded-for': '127.0.0.3, 127.0.0.2' }).clientIp).toBe(
      '127.0.0.3',
    );
    expect(forward('127.0.0.1', { host: 'a' }).clientIp).toBe('127.0.0.1');
    expect(forward('127.0.0.1', { host: 'a' }).headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('keeps only a valid X-Forwarded-Proto from the trusted hop', () => {
    expect(
      forward('127.0.0.1', { 'x-forwarded-proto': 'HTTPS, http' }).headers['x-forwarded-proto'],
    ).toBe('https');
    expect(
      forward('127.0.0.1', { 'x-forwarded-proto': 'gopher' }, loopback, true).headers[
        'x-forwarded-proto'
      ],
    ).toBe('https');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties.

const ip = fc.oneof(fc.ipV4(), fc.ipV6());
const canonical = (address: string): string => parseIp(address)?.address ?? address;

/** The rule, written as plainly as possible over canonical addresses and an exact trust set. */
function referenceClient(
  chain: readonly string[],
  peer: string,
  trusted: ReadonlySet<string>,
): string {
  const hops = [...chain, peer].map(canonical);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trusted.has(hops[i] ?? '')) return hops[i] ?? '';
  }
  return hops[0] ?? '';
}

/** A chain of hops, an address pool some of which are trusted, and the peer. */
const scenario = fc
  .uniqueArray(ip, { minLength: 1, maxLength: 8, selector: canonical })
  .chain((pool) =>
    fc.record({
      pool: fc.constant(pool),
      trustedMask: fc.array(fc.boolean(), { minLength: pool.length, maxLength: pool.length }),
      chain: fc.array(fc.constantFrom(...pool), { maxLength: 6 }),
      peer: fc.constantFrom(...pool),
      style: fc.constantFrom<'xff' | 'forwarded'>('xff', 'forwarded'),
      withPorts: fc.boolean(),
    }),
  );

function writeChain(
  chain: readonly string[],
  style: 'xff' | 'forwarded',
  withPorts: boolean,
): IncomingHttpHeaders {
  if (style === 'xff') {
    return {
      'x-forwarded-for': chain
        .map((hop) => (withPorts ? (hop.includes(':') ? `[${hop}]:1234` : `${hop}:1234`) : hop))
        .join(', '),
    };
  }
  return {
    forwarded: chain
      .map((hop) => {
        const node = hop.includes(':')
          ? `[${hop}]${withPorts ? ':1234' : ''}`
          : `${hop}${withPorts ? ':1234' : ''}`;
        return `proto=https;for="${node}";by=unknown`;
      })
      .join(', '),
  };
}

describe('forwardingHeaders properties', () => {
  test.prop([scenario], { numRuns: 1000 })(
    'the client is the rightmost untrusted hop, whichever header carries the chain',
    ({ pool, trustedMask, chain, peer, style, withPorts }) => {
      const trustedList = pool.filter((_, i) => trustedMask[i] === true);
      const trusted = TrustedProxies.parse(trustedList);
      const headers = chain.length === 0 ? {} : writeChain(chain, style, withPorts);
      const result = forward(peer, { host: 'a', ...headers }, trusted);
      const expected = trusted.trusts(peer)
        ? referenceClient(chain, peer, new Set(trustedList.map(canonical)))
        : canonical(peer);
      expect(result.clientIp).toBe(expected);
    },
  );

  test.prop(
    [
      ip,
      fc.array(ip, { maxLength: 4 }),
      fc.record(
        {
          'x-forwarded-for': fc.string(),
          'x-forwarded-proto': fc.string(),
          'x-forwarded-host': fc.string(),
          forwarded: fc.string(),
          'x-real-ip': fc.string(),
        },
        { requiredKeys: [] },
      ),
      fc.boolean(),
    ],
    { numRuns: 500 },
  )(
    "an untrusted peer's forwarding headers change nothing",
    (peer, trustedAddresses, spoofed, encrypted) => {
      const trusted = TrustedProxies.parse(trustedAddresses);
      fc.pre(!trusted.trusts(peer));
      const honest = forward(peer, { host: 'a' }, trusted, encrypted);
      const spoofing = forward(peer, { host: 'a', ...spoofed }, trusted, encrypted);
      expect(spoofing).toEqual(honest);
      expect(spoofing.clientIp).toBe(canonical(peer));
    },
  );

  test.prop([scenario], { numRuns: 300 })(
    'the forwarded chain grows by exactly this hop from a trusted peer',
    ({ pool, chain, peer }) => {
      const trusted = TrustedProxies.parse(pool);
      const xff = chain.join(', ');
      const result = forward(peer, chain.length === 0 ? {} : { 'x-forwarded-for': xff }, trusted);
      expect(result.headers['x-forwarded-for']).toBe(
        chain.length === 0 ? canonical(peer) : `${xff}, ${canonical(peer)}`,
      );
    },
  );
});
