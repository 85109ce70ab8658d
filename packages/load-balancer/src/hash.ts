/**
 * Why: consistent hashing (Maglev, ring hash) needs a fast, well-mixed 32-bit hash of request keys
 * and upstream names, identical in every process so that a fleet of proxies maps a key to the same
 * upstream. This is MurmurHash3 x86_32 (Austin Appleby's reference) over the string's UTF-8 bytes,
 * which are encoded on the fly: hashing a key allocates nothing, and the result equals every
 * other MurmurHash3 implementation fed the same UTF-8 bytes.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** A request key for consistent hashing: a string (client IP, header, cookie) or a number. */
export type HashKey = string | number;

function mixBlock(h: number, block: number): number {
  let k = Math.imul(block, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finaliser: spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3 (x86, 32-bit) of the UTF-8 encoding of `key`, as an unsigned integer. Lone
 * surrogates are hashed as U+FFFD, as `TextEncoder` encodes them.
 *
 * @param seed unsigned 32-bit seed (default 0)
 */
export function murmur3(key: string, seed = 0): number {
  let h = seed | 0;
  let block = 0; // bytes not yet mixed, little-endian
  let shift = 0; // bits used in `block`
  let length = 0; // bytes hashed
  const n = key.length;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x80) {
      block |= c << shift;
      length++;
      shift += 8;
      if (shift === 32) {
        h = mixBlock(h, block);
        block = 0;
        shift = 0;
      }
      continue;
    }
    // Encode the code point as 2 to 4 UTF-8 bytes, packed little-endian in `bytes`.
    let bytes: number;
    let count: number;
    if (c < 0x800) {
      bytes = 0xc0 | (c >>> 6) | ((0x80 | (c & 0x3f)) << 8);
      count = 2;
    } else {
      const next = i + 1 < n ? key.charCodeAt(i + 1) : 0;
      if (c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        bytes =
          0xf0 |
          (cp >>> 18) |
          ((0x80 | ((cp >>> 12) & 0x3f)) << 8) |
          ((0x80 | ((cp >>> 6) & 0x3f)) << 16) |
          ((0x80 | (cp & 0x3f)) << 24);
        count = 4;
        i++;
      } else {
        const cp = c >= 0xd800 && c <= 0xdfff ? 0xfffd : c;
        bytes =
          0xe0 | (cp >>> 12) | ((0x80 | ((cp >>> 6) & 0x3f)) << 8) | ((0x80 | (cp & 0x3f)) << 16);
        count = 3;
      }
    }
    for (let j = 0; j < count; j++) {
      block |= ((bytes >>> (j * 8)) & 0xff) << shift;
      length++;
      shift += 8;
      if (shift === 32) {
        h = mixBlock(h, block);
        block = 0;
        shift = 0;
      }
    }
  }
  if (shift > 0) {
    let k = Math.imul(block, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  return fmix32(h ^ length);
}

/**
 * The 32-bit hash of a {@link HashKey}: {@link murmur3} of a string; for a number, the
 * MurmurHash3 finaliser of an unsigned 32-bit integer, or {@link murmur3} of its decimal form.
 */
export function hashKey(key: HashKey): number {
  if (typeof key === 'string') return murmur3(key);
  if (Number.isInteger(key) && key >= 0 && key <= 0xffffffff) return fmix32(key ^ 0x9747b28c);
  return murmur3(String(key));
}
