import { isIPv4, isIPv6 } from 'node:net';
import { fc, test as fcTest } from '@fast-check/vitest';
import { afterEach, describe, expect, it } from 'vitest';
import { closed, connectTo, startServer, type TestServer, waitFor } from '../test/net-helpers.js';
import { LocalForwarder } from './forwarder.js';
import { encodeProxyV1, encodeProxyV2 } from './proxy-protocol.js';

// A reference parser written from HAProxy's proxy-protocol.txt, independent of the encoder.

interface Parsed {
  readonly version: 1 | 2;
  readonly command: 'PROXY' | 'LOCAL' | 'UNKNOWN';
  readonly family: 'TCP4' | 'TCP6' | 'UNSPEC';
  readonly source?: string;
  readonly destination?: string;
  readonly sourcePort?: number;
  readonly destinationPort?: number;
  /** Bytes the header took; the payload starts here. */
  readonly length: number;
}

const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

/** 16 bytes → the canonical text form (RFC 5952 via the URL parser's serializer). */
function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

function canonicalIPv6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** Parses a PROXY header at the start of `data`; returns undefined if more bytes are needed. */
function parseProxyHeader(data: Buffer): Parsed | undefined {
  if (data.length >= 16 && data.subarray(0, 12).equals(V2_SIGNATURE)) {
    // Byte 13: version (high nibble, must be 2) and command (low nibble: 0 LOCAL, 1 PROXY).
    const verCmd = data[12] ?? 0;
    if (verCmd >> 4 !== 2) throw new Error(`bad version ${String(verCmd >> 4)}`);
    const cmd = verCmd & 0x0f;
    if (cmd !== 0 && cmd !== 1) throw new Error(`bad command ${String(cmd)}`);
    // Byte 14: address family (high nibble: 0 UNSPEC, 1 INET, 2 INET6) and protocol (1 STREAM).
    const famProto = data[13] ?? 0;
    const family = famProto >> 4;
    const protocol = famProto & 0x0f;
    // Bytes 15–16: length of the address block, network order.
    const length = data.readUInt16BE(14);
    if (data.length < 16 + length) return undefined;
    const block = data.subarray(16, 16 + length);
    if (cmd === 0) return { version: 2, command: 'LOCAL', family: 'UNSPEC', length: 16 + length };
    if (protocol !== 1) throw new Error(`not STREAM: ${String(protocol)}`);
    if (family === 1) {
      if (length < 12) throw new Error('short IPv4 block');
      return {
        version: 2,
        command: 'PROXY',
        family: 'TCP4',
        source: [...block.subarray(0, 4)].join('.'),
        destination: [...block.subarray(4, 8)].join('.'),
        sourcePort: block.readUInt16BE(8),
        destinationPort: block.readUInt16BE(10),
        length: 16 + length,
      };
    }
    if (family === 2) {
      if (length < 36) throw new Error('short IPv6 block');
      return {
        version: 2,
        command: 'PROXY',
        family: 'TCP6',
        source: ipv6Text(block.subarray(0, 16)),
        destination: ipv6Text(block.subarray(16, 32)),
        sourcePort: block.readUInt16BE(32),
        destinationPort: block.readUInt16BE(34),
        length: 16 + length,
      };
    }
    throw new Error(`unsupported family ${String(family)}`);
  }
  // Version 1: one line of at most 107 bytes, CRLF-terminated, starting with "PROXY ".
  const end = data.indexOf('\r\n');
  if (end < 0) {
    if (data.length >= 107) throw new Error('v1 line too long');
    return undefined;
  }
  if (end + 2 > 107) throw new Error('v1 line too long');
  const line = data.subarray(0, end).toString('latin1');
  const parts = line.split(' ');
  if (parts[0] !== 'PROXY') throw new Error(`not a PROXY line: ${line}`);
  if (parts[1] === 'UNKNOWN') {
    return { version: 1, command: 'UNKNOWN', family: 'UNSPEC', length: end + 2 };
  }
  if (parts.length !== 6) throw new Error(`v1 needs 6 fields: ${line}`);
  const [, proto, src = '', dst = '', sport = '', dport = ''] = parts;
  if (proto !== 'TCP4' && proto !== 'TCP6') throw new Error(`bad protocol ${String(proto)}`);
  const isFamily = proto === 'TCP4' ? isIPv4 : isIPv6;
  if (!isFamily(src) || !isFamily(dst)) throw new Error(`bad addresses ${line}`);
  const port = (text: string): number => {
    if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65_535)
      throw new Error(`bad port ${text}`);
    return Number(text);
  };
  return {
    version: 1,
    command: 'PROXY',
    family: proto,
    source: src,
    destination: dst,
    sourcePort: port(sport),
    destinationPort: port(dport),
    length: end + 2,
  };
}

const ipv4 = fc.ipV4();
// Two IPv4-mapped addresses are sent as TCP4 (tested below), so they are left out here.
const ipv6 = fc.ipV6().filter((a) => !/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a));
const port = fc.integer({ min: 0, max: 65_535 });

describe('PROXY protocol encoding, checked with a reference parser', () => {
  fcTest.prop([ipv4, ipv4, port, port])('v1 and v2 over IPv4', (src, dst, sport, dport) => {
    const endpoints = {
      sourceAddress: src,
      destinationAddress: dst,
      sourcePort: sport,
      destinationPort: dport,
    };
    const expected = {
      command: 'PROXY',
      family: 'TCP4',
      source: src,
      destination: dst,
      sourcePort: sport,
      destinationPort: dport,
    };
    const v1 = encodeProxyV1(endpoints);
    expect(parseProxyHeader(v1)).toEqual({ ...expected, version: 1, length: v1.length });
    const v2 = encodeProxyV2(endpoints);
    expect(parseProxyHeader(v2)).toEqual({ ...expected, version: 2, length: 28 });
  });

  fcTest.prop([ipv6, ipv6, port, port])('v1 and v2 over IPv6', (src, dst, sport, dport) => {
    const endpoints = {
      sourceAddress: src,
      destinationAddress: dst,
      sourcePort: sport,
      destinationPort: dport,
    };
    const v1 = parseProxyHeader(encodeProxyV1(endpoints));
    expect(v1).toMatchObject({ version: 1, family: 'TCP6', sourcePort: sport });
    expect(canonicalIPv6(v1?.source ?? '')).toBe(canonicalIPv6(src));
    expect(canonicalIPv6(v1?.destination ?? '')).toBe(canonicalIPv6(dst));
    const v2 = parseProxyHeader(encodeProxyV2(endpoints));
    expect(v2).toMatchObject({ version: 2, family: 'TCP6', length: 52, destinationPort: dport });
    expect(v2?.source).toBe(canonicalIPv6(src));
    expect(v2?.destination).toBe(canonicalIPv6(dst));
  });

  it('speaks IPv4 for IPv4-mapped addresses of a dual-stack listener', () => {
    const endpoints = {
      sourceAddress: '::ffff:10.1.2.3',
      destinationAddress: '::ffff:127.0.0.1',
      sourcePort: 40_000,
      destinationPort: 8081,
    };
    expect(encodeProxyV1(endpoints).toString()).toBe(
      'PROXY TCP4 10.1.2.3 127.0.0.1 40000 8081\r\n',
    );
    expect(parseProxyHeader(encodeProxyV2(endpoints))).toMatchObject({
      family: 'TCP4',
      source: '10.1.2.3',
    });
  });

  it('falls back to UNKNOWN (v1) and LOCAL (v2) when the addresses are unknown or mixed', () => {
    const mixed = {
      sourceAddress: '10.0.0.1',
      destinationAddress: '::1',
      sourcePort: 1,
      destinationPort: 2,
    };
    const unknown = {
      sourceAddress: undefined,
      destinationAddress: undefined,
      sourcePort: undefined,
      destinationPort: undefined,
    };
    for (const endpoints of [mixed, unknown]) {
      expect(encodeProxyV1(endpoints).toString()).toBe('PROXY UNKNOWN\r\n');
      const v2 = encodeProxyV2(endpoints);
      expect(v2.length).toBe(16);
      expect(parseProxyHeader(v2)).toEqual({
        version: 2,
        command: 'LOCAL',
        family: 'UNSPEC',
        length: 16,
      });
    }
  });
});

describe('PROXY protocol through the forwarder', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A backend that reads the header, then echoes the payload after it. */
  async function headerBackend(host: string) {
    const headers: Parsed[] = [];
    const server: TestServer = await startServer((socket) => {
      let buffered = Buffer.alloc(0);
      let parsed: Parsed | undefined;
      socket.on('data', (chunk: Buffer) => {
        if (parsed !== undefined) {
          socket.write(chunk);
          return;
        }
        buffered = Buffer.concat([buffered, chunk]);
        parsed = parseProxyHeader(buffered);
        if (parsed !== undefined) {
          headers.push(parsed);
          socket.write(buffered.subarray(parsed.length));
        }
      });
      socket.on('end', () => socket.end());
    }, host);
    cleanups.push(() => server.close());
    return { server, headers };
  }

  it.each([
    ['v1', '127.0.0.1'],
    ['v2', '127.0.0.1'],
    ['v1', '::1'],
    ['v2', '::1'],
  ] as const)('sends a %s header with the client address first (%s)', async (version, host) => {
    const { server, headers } = await headerBackend(host);
    const listen = host.includes(':') ? `[${host}]:0` : `${host}:0`;
    const engine = new LocalForwarder({
      listen,
      backends: [server.address],
      proxyProtocol: version,
      healthCheck: false,
    });
    cleanups.push(() => engine.close());
    const { port } = await engine.listen();
    const client = await connectTo(port, host);
    client.write('payload after the header');
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await waitFor(() => Buffer.concat(chunks).toString() === 'payload after the header');
    expect(headers).toHaveLength(1);
    expect(headers[0]).toMatchObject({
      version: version === 'v1' ? 1 : 2,
      command: 'PROXY',
      family: host === '::1' ? 'TCP6' : 'TCP4',
      source: host,
      sourcePort: client.localPort,
      destination: host,
      destinationPort: port,
    });
    client.end();
    await closed(client);
  });
});
