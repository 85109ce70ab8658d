/**
 * Why: `X-Forwarded-For` and `Forwarded` are only as trustworthy as the hop that wrote them. The
 * proxy believes them only from peers the operator lists in `REVERSE_PROXY_TRUSTED_PROXIES` —
 * addresses and CIDRs, IPv4 and IPv6 — like nginx's `set_real_ip_from` and Envoy's
 * `xff_num_trusted_hops`. An IPv4 peer seen through a dual-stack socket (`::ffff:10.0.0.1`) is
 * matched as the IPv4 address it is, whichever way the operator wrote the entry. Matching compares
 * 16-bit groups against each network (node:net's BlockList costs microseconds per check, too much
 * for a per-request path).
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

/**
 * An IP address in canonical form: IPv4-mapped IPv6 turned into IPv4, zone and brackets removed,
 * IPv6 written as RFC 5952 §4 says (lower case, no leading zeros, the longest run of zero groups
 * as `::`), so that every spelling of one address is one string (one rate-limit key, one log value).
 */
export interface ParsedIp {
  /** The address, e.g. `10.0.0.1` or `2001:db8::1`. */
  readonly address: string;
  /** Its family. */
  readonly family: 'ipv4' | 'ipv6';
}

const MAPPED_PREFIX = '::ffff:';

/**
 * Parses an IP address as a socket or a forwarding header gives it: `10.0.0.1`, `2001:db8::1`,
 * `[2001:db8::1]`, `fe80::1%eth0`, `::ffff:10.0.0.1` (returned as `10.0.0.1`),
 * `2001:DB8:0:0::0:1` (returned as `2001:db8::1`). No ports.
 *
 * @returns the canonical address, or `undefined` when the text is not an IP address
 */
export function parseIp(text: string): ParsedIp | undefined {
  let ip = text;
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const zone = ip.indexOf('%');
  if (zone !== -1) ip = ip.slice(0, zone);
  if (isIPv4(ip)) return { address: ip, family: 'ipv4' };
  if (!isIPv6(ip)) return undefined;
  const lower = ip.toLowerCase();
  if (lower.startsWith(MAPPED_PREFIX) && isIPv4(lower.slice(MAPPED_PREFIX.length))) {
    return { address: lower.slice(MAPPED_PREFIX.length), family: 'ipv4' };
  }
  const groups = ipv6Groups(lower);
  if (groups === undefined) return undefined;
  if (groups.slice(0, 6).join(',') === '0,0,0,0,0,65535') {
    // IPv4-mapped, spelled in hex (`::ffff:a00:1`).
    const high = groups[6] ?? 0;
    const low = groups[7] ?? 0;
    const address = [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
    return { address, family: 'ipv4' };
  }
  return { address: formatIpv6(groups), family: 'ipv6' };
}

/**
 * The RFC 5952 §4 text of eight 16-bit groups: lower-case hex without leading zeros, and the
 * longest run of two or more zero groups (the first of equally long ones) written as `::`.
 */
function formatIpv6(groups: readonly number[]): string {
  let runStart = -1;
  let runLength = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < groups.length && groups[end] === 0) end++;
    if (end - i > runLength) {
      runStart = i;
      runLength = end - i;
    }
    i = end;
  }
  const hex = groups.map((group) => group.toString(16));
  if (runStart === -1) return hex.join(':');
  return `${hex.slice(0, runStart).join(':')}::${hex.slice(runStart + runLength).join(':')}`;
}

/** The eight 16-bit groups of a valid IPv6 address (checked by the caller), embedded IPv4 included. */
function ipv6Groups(ipv6: string): number[] | undefined {
  let text = ipv6;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const octets = tail.split('.').map(Number);
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = 8 - left.length - right.length;
  if (rest === undefined ? missing !== 0 : missing < 0) return undefined;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((g) => parseInt(g, 16));
}

/** A valid dotted IPv4 address as an unsigned 32-bit number. */
function ipv4Number(address: string): number {
  let value = 0;
  let octet = 0;
  for (let i = 0; i < address.length; i++) {
    const code = address.charCodeAt(i);
    if (code === 0x2e) {
      value = value * 256 + octet;
      octet = 0;
    } else {
      octet = octet * 10 + code - 0x30;
    }
  }
  return value * 256 + octet;
}

function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** An IPv6 network: its 16-bit groups and prefix length. */
interface Ipv6Network {
  readonly groups: readonly number[];
  readonly prefix: number;
}

function contains(network: Ipv6Network, groups: readonly number[]): boolean {
  let bits = network.prefix;
  let i = 0;
  for (; bits >= 16; i++, bits -= 16) {
    if (groups[i] !== network.groups[i]) return false;
  }
  if (bits === 0) return true;
  const mask = (0xffff << (16 - bits)) & 0xffff;
  return (((groups[i] ?? 0) ^ (network.groups[i] ?? 0)) & mask) === 0;
}

/** `::ffff:0:0`, the start of the IPv4-mapped range `::ffff:0:0/96`. */
const MAPPED_RANGE = [0, 0, 0, 0, 0, 0xffff, 0, 0];

/** A set of trusted proxy addresses and networks. */
export class TrustedProxies {
  /** The entries as given, trimmed. */
  readonly entries: readonly string[];
  /** IPv4 networks as [network, mask] pairs of unsigned 32-bit numbers. */
  readonly #ipv4: [number, number][] = [];
  readonly #ipv6: Ipv6Network[] = [];
  /** True when an IPv6 network covers the whole IPv4-mapped range (e.g. `::/0`). */
  #allIpv4 = false;

  private constructor(entries: readonly string[]) {
    this.entries = entries;
  }

  /**
   * Parses addresses (`10.0.0.1`, `::1`) and CIDRs (`10.0.0.0/8`, `fd00::/8`). IPv4 lives inside
   * IPv6 as its mapped form, so `::ffff:10.0.0.0/104` is the same network as `10.0.0.0/8`, and an
   * IPv6 network covering `::ffff:0:0/96` (such as `::/0`) covers IPv4 too. Host bits set below
   * the prefix are ignored, as in nginx (`10.0.0.1/8` is `10.0.0.0/8`).
   *
   * @throws RangeError naming the first entry that is not an address or a CIDR
   */
  static parse(entries: readonly string[]): TrustedProxies {
    const trimmed = entries.map((entry) => entry.trim());
    const trusted = new TrustedProxies(trimmed);
    for (const entry of trimmed) trusted.#add(entry);
    return trusted;
  }

  /** True when `ip` (as a socket gives it, or as parsed from a header) is in one of the entries. */
  trusts(ip: string): boolean {
    if (this.entries.length === 0) return false;
    const parsed = parseIp(ip);
    if (parsed === undefined) return false;
    if (parsed.family === 'ipv4') {
      if (this.#allIpv4) return true;
      const address = ipv4Number(parsed.address);
      for (const [network, mask] of this.#ipv4) {
        if ((address & mask) >>> 0 === network) return true;
      }
      return false;
    }
    const groups = ipv6Groups(parsed.address) ?? [];
    for (const network of this.#ipv6) {
      if (contains(network, groups)) return true;
    }
    return false;
  }

  #add(entry: string): void {
    const slash = entry.indexOf('/');
    const addressText = slash === -1 ? entry : entry.slice(0, slash);
    const prefixText = slash === -1 ? undefined : entry.slice(slash + 1);
    const family = isIP(addressText);
    const parsed = family === 0 ? undefined : parseIp(addressText);
    const max = family === 4 ? 32 : 128;
    const prefix =
      prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (parsed === undefined || !(prefix >= 0 && prefix <= max)) {
      throw new RangeError(
        `TrustedProxies: ${JSON.stringify(entry)} is not an IPv4 or IPv6 address or CIDR (e.g. 10.0.0.0/8, fd00::/8)`,
      );
    }
    if (parsed.family === 'ipv4' && (family === 4 || prefix >= 96)) {
      // An IPv4 entry, or an IPv4-mapped one within the mapped range.
      const ipv4Prefix = family === 4 ? prefix : prefix - 96;
      const mask = ipv4Mask(ipv4Prefix);
      this.#ipv4.push([(ipv4Number(parsed.address) & mask) >>> 0, mask]);
      return;
    }
    const network = { groups: ipv6Groups(addressText.split('%')[0] ?? '') ?? [], prefix };
    this.#ipv6.push(network);
    if (prefix <= 96 && contains(network, MAPPED_RANGE)) this.#allIpv4 = true;
  }
}
