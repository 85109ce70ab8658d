import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { HOP_BY_HOP_HEADERS, stripHopByHop } from './hop-by-hop.js';

describe('stripHopByHop', () => {
  it('drops the RFC 9110 hop-by-hop names and every name listed in Connection', () => {
    const out = stripHopByHop({
      host: 'example.com',
      connection: 'keep-alive, X-Secret-Internal,  x-forwarded-for ',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'proxy-authenticate': 'Basic',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      'x-secret-internal': '1',
      'x-forwarded-for': '6.6.6.6',
      'content-type': 'text/plain',
      'content-length': 12,
      'set-cookie': ['a=1', 'b=2'],
      'x-empty': undefined,
    });
    expect(out).toEqual({
      host: 'example.com',
      'content-type': 'text/plain',
      'content-length': '12',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it('reads Connection case-insensitively, from every Connection value', () => {
    const out = stripHopByHop({
      Connection: ['close, X-A', 'x-b'],
      'X-A': '1',
      'x-B': '2',
      'X-C': '3',
    });
    expect(out).toEqual({ 'X-C': '3' });
  });

  it('does not modify its input', () => {
    const input = { connection: 'x-a', 'x-a': '1', 'x-b': '2' };
    stripHopByHop(input);
    expect(input).toEqual({ connection: 'x-a', 'x-a': '1', 'x-b': '2' });
  });

  it('keeps a header called __proto__ as a header', () => {
    const input = JSON.parse('{"__proto__": "x", "a": "1"}') as Record<string, string>;
    const out = stripHopByHop(input);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
  });
});

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const nameCase = fc.constantFrom<(s: string) => string>(
  (s) => s,
  (s) => s.toUpperCase(),
  (s) => s.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase()),
);
const value = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.array(fc.string({ maxLength: 5 }), { minLength: 1, maxLength: 3 }),
  fc.nat(),
);

describe('stripHopByHop properties', () => {
  test.prop(
    [
      fc.dictionary(token, value, { maxKeys: 12 }),
      fc.subarray([...HOP_BY_HOP_HEADERS]),
      fc.array(fc.tuple(token, nameCase), { maxLength: 4 }),
      nameCase,
    ],
    { numRuns: 500 },
  )(
    'no hop-by-hop or Connection-listed name survives, every other name does with its value',
    (plain, hop, listed, connectionCase) => {
      const headers: Record<string, string | string[] | number> = { ...plain };
      for (const name of hop) headers[name] = ''; // a Connection of '' lists nothing
      if (listed.length > 0) {
        headers[connectionCase('connection')] = listed
          .map(([name, spell]) => ` ${spell(name)} `)
          .join(',');
      }
      const listedNames = new Set(listed.map(([name]) => name));
      const out = stripHopByHop(headers);
      for (const name of Object.keys(out)) {
        expect(HOP_BY_HOP_HEADERS.has(name.toLowerCase())).toBe(false);
        expect(listedNames.has(name.toLowerCase())).toBe(false);
      }
      for (const [name, v] of Object.entries(headers)) {
        const lower = name.toLowerCase();
        if (HOP_BY_HOP_HEADERS.has(lower) || listedNames.has(lower)) continue;
        expect(out[name]).toEqual(typeof v === 'number' ? String(v) : v);
      }
    },
  );
});
