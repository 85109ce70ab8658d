import { isIPv4 } from 'node:net';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { parseIp, TrustedProxies } from './trusted-proxies.js';

// A plain reference: addresses as bigints, a network as (bits, prefix, width).
function v4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}
function v6ToBigInt(ip: string): bigint {
  let text = ip;
  if (text.includes('.')) {
    const last = text.lastIndexOf(':');
    const v4 = v4ToBigInt(text.slice(last + 1));
    text = `${text.slice(0, last + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}
interface Net {
  readonly v4: boolean;
  readonly bits: bigint;
  readonly prefix: number;
}
function inNet(ip: string, net: Net): boolean {
  const v4 = isIPv4(ip);
  let bits = v4 ? v4ToBigInt(ip) : v6ToBigInt(ip);
  let width = v4 ? 32 : 128;
  // Compare an IPv4 address with an IPv6 network through its mapped form, and the reverse.
  if (v4 && !net.v4) {
    bits = 0xffff00000000n | bits;
    width = 128;
  }
  if (!v4 && net.v4) {
    if (bits >> 32n !== 0xffffn) return false;
    bits &= 0xffffffffn;
    width = 32;
  }
  const shift = BigInt(width - net.prefix);
  return bits >> shift === net.bits >> shift;
}

describe('TrustedProxies', () => {
  it('matches IPv4 and IPv6 addresses and CIDRs', () => {
    const trusted = TrustedProxies.parse(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
    expect(trusted.trusts('10.1.2.3')).toBe(true);
    expect(trusted.trusts('11.0.0.1')).toBe(false);
    expect(trusted.trusts('192.168.1.7')).toBe(true);
    expect(trusted.trusts('192.168.1.8')).toBe(false);
    expect(trusted.trusts('fd12:3456::1')).toBe(true);
    expect(trusted.trusts('fe80::1')).toBe(false);
    expect(trusted.trusts('::1')).toBe(true);
    expect(trusted.trusts('[::1]')).toBe(true);
    expect(trusted.trusts('::2')).toBe(false);
  });

  it('matches an IPv4-mapped IPv6 peer as IPv4, however either is written', () => {
    const trusted = TrustedProxies.parse(['127.0.0.1/32']);
    expect(trusted.trusts('::ffff:127.0.0.1')).toBe(true);
    expect(trusted.trusts('::FFFF:7f00:1')).toBe(true);
    expect(trusted.trusts('0:0:0:0:0:ffff:7f00:1')).toBe(true);
    expect(trusted.trusts('::ffff:127.0.0.2')).toBe(false);
    const mappedEntry = TrustedProxies.parse(['::ffff:10.0.0.0/104']);
    expect(mappedEntry.trusts('10.9.9.9')).toBe(true);
    expect(mappedEntry.trusts('::ffff:10.9.9.9')).toBe(true);
    expect(mappedEntry.trusts('11.0.0.1')).toBe(false);
  });

  it('ignores a zone id', () => {
    expect(TrustedProxies.parse(['fe80::/10']).trusts('fe80::1%eth0')).toBe(true);
  });

  it('trusts nothing when empty, and nothing that is not an address', () => {
    const none = TrustedProxies.parse([]);
    expect(none.trusts('127.0.0.1')).toBe(false);
    const all = TrustedProxies.parse(['0.0.0.0/0', '::/0']);
    expect(all.trusts('8.8.8.8')).toBe(true);
    expect(all.trusts('2001:db8::1')).toBe(true);
    expect(all.trusts('unknown')).toBe(false);
    expect(all.trusts('')).toBe(false);
    expect(all.trusts('1.2.3.4:80')).toBe(false);
  });

  it.each([
    '10.0.0.0/33',
    'fd00::/129',
    '10.0.0',
    'example.com',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/8/8',
    '',
    '10.0.0.0/08x',
  ])('refuses %j with a RangeError naming it', (entry) => {
    expect(() => TrustedProxies.parse(['127.0.0.1', entry])).toThrow(
      new RangeError(
        `TrustedProxies: ${JSON.stringify(entry)} is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, fd00::/8)`,
      ),
    );
  });

  it('keeps its entries, trimmed', () => {
    expect(TrustedProxies.parse([' 10.0.0.0/8 ', '::1']).entries).toEqual(['10.0.0.0/8', '::1']);
  });
});

describe('parseIp', () => {
  it('canonicalises what sockets and headers give', () => {
    expect(parseIp('10.0.0.1')).toEqual({ address: '10.0.0.1', family: 'ipv4' });
    expect(parseIp('::ffff:10.0.0.1')).toEqual({ address: '10.0.0.1', family: 'ipv4' });
    expect(parseIp('[2001:DB8::1]')).toEqual({ address: '2001:db8::1', family: 'ipv6' });
    expect(parseIp('fe80::1%lo')).toEqual({ address: 'fe80::1', family: 'ipv6' });
    expect(parseIp('unknown')).toBeUndefined();
    expect(parseIp('_hidden')).toBeUndefined();
  });

  it('writes IPv6 as RFC 5952 §4 does', () => {
    const text = (ip: string): string | undefined => parseIp(ip)?.address;
    expect(text('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(text('::0')).toBe('::');
    expect(text('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(text('2001:db8::')).toBe('2001:db8::');
    expect(text('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1'); // the longest run
    expect(text('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // the first of equal runs
    expect(text('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // one zero group stays
    expect(text('::1.2.3.4')).toBe('::102:304');
    expect(text('::ffff:a00:1')).toBe('10.0.0.1'); // IPv4-mapped in hex
  });

  test.prop([fc.ipV6()], { numRuns: 500 })(
    'gives every spelling of an IPv6 address the same text, which stands for the same address',
    (ip) => {
      const bits = v6ToBigInt(ip);
      const groups = Array.from({ length: 8 }, (_, i) => (bits >> BigInt(112 - 16 * i)) & 0xffffn);
      const spelledOut = groups.map((g) => g.toString(16).padStart(4, '0').toUpperCase()).join(':');
      const parsed = parseIp(ip);
      expect(parsed).toBeDefined();
      expect(parseIp(spelledOut)).toEqual(parsed);
      expect(parseIp(parsed?.address ?? '')).toEqual(parsed);
      if (parsed?.family === 'ipv6') {
        expect(v6ToBigInt(parsed.address)).toBe(bits);
      } else {
        expect(bits >> 32n).toBe(0xffffn); // IPv4-mapped
        expect(v4ToBigInt(parsed?.address ?? '')).toBe(bits & 0xffffffffn);
      }
    },
  );
});

const v4Net = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, prefix]) => ({
  text: `${ip}/${prefix}`,
  net: { v4: true, bits: v4ToBigInt(ip), prefix },
}));
const v6Net = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, prefix]) => ({
  text: `${ip}/${prefix}`,
  net: { v4: false, bits: v6ToBigInt(ip), prefix },
}));
// Addresses near the networks as well as anywhere, so that matches are common.
const address = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4().map((ip) => ip.replace(/\.\d+$/, '.1')),
);

describe('TrustedProxies properties', () => {
  test.prop(
    [
      fc.array(fc.oneof(v4Net, v6Net), { maxLength: 6 }),
      fc.array(address, { minLength: 1, maxLength: 10 }),
    ],
    {
      numRuns: 500,
    },
  )('agrees with a bigint reference for IPv4 and IPv6', (nets, addresses) => {
    const trusted = TrustedProxies.parse(nets.map((n) => n.text));
    for (const ip of addresses) {
      expect(trusted.trusts(ip)).toBe(nets.some((n) => inNet(ip, n.net)));
    }
  });

  test.prop([fc.ipV4(), fc.integer({ min: 0, max: 32 }), fc.ipV4()], { numRuns: 300 })(
    'an IPv4 network and its IPv4-mapped IPv6 spelling trust the same peers, in either spelling',
    (network, prefix, ip) => {
      const v4 = TrustedProxies.parse([`${network}/${prefix}`]);
      const mapped = TrustedProxies.parse([`::ffff:${network}/${prefix + 96}`]);
      const expected = inNet(ip, { v4: true, bits: v4ToBigInt(network), prefix });
      expect(v4.trusts(ip)).toBe(expected);
      expect(v4.trusts(`::ffff:${ip}`)).toBe(expected);
      expect(mapped.trusts(ip)).toBe(expected);
      expect(mapped.trusts(`::ffff:${ip}`)).toBe(expected);
    },
  );
});
