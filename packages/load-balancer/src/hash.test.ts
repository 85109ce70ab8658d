import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { hashKey, murmur3 } from './hash.js';

/** A plain byte-wise MurmurHash3 x86_32, written from the reference, to check the streaming one. */
function reference(bytes: Uint8Array, seed: number): number {
  const mix = (k: number): number => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    return Math.imul(k, 0x1b873593);
  };
  let h = seed | 0;
  const blocks = bytes.length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    h ^= mix(bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rest = bytes.length & 3;
  if (rest === 3) k ^= bytes[blocks + 2]! << 16;
  if (rest >= 2) k ^= bytes[blocks + 1]! << 8;
  if (rest >= 1) h ^= mix(k ^ bytes[blocks]!);
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

describe('murmur3', () => {
  // Published MurmurHash3 x86_32 test vectors (SMHasher's reference implementation).
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['a', 0x9747b28c, 0x7fa09ea6],
    ['ab', 0x9747b28c, 0x74875592],
    ['abc', 0x9747b28c, 0xc84a62dd],
    ['abcd', 0x9747b28c, 0xf0478627],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['ππππππππ', 0x9747b28c, 0xd58063c1],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ])('murmur3(%j, %i) = the published vector', (key, seed, expected) => {
    expect(murmur3(key, seed)).toBe(expected);
  });

  test.prop([
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.integer({ min: 0, max: 0xffffffff }),
  ])(
    'equals the byte-wise reference over TextEncoder UTF-8, for any string (lone surrogates too)',
    (key, seed) => {
      expect(murmur3(key, seed)).toBe(reference(new TextEncoder().encode(key), seed));
    },
  );
});

describe('hashKey', () => {
  it('hashes strings with murmur3, small integers with the finaliser, other numbers by their text', () => {
    expect(hashKey('10.0.0.1')).toBe(murmur3('10.0.0.1'));
    expect(hashKey(42)).not.toBe(hashKey(43));
    expect(hashKey(42)).toBe(hashKey(42));
    expect(hashKey(-1.5)).toBe(murmur3('-1.5'));
    expect(hashKey(2 ** 40)).toBe(murmur3(String(2 ** 40)));
  });

  it('spreads consecutive integer keys evenly over 16 buckets', () => {
    const buckets = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) buckets[hashKey(i) % 16]!++;
    for (const count of buckets) expect(count).toBeGreaterThan(850);
  });
});
