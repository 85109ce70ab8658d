// Why: behind an L4 forwarder every backend connection comes from the forwarder's own address;
// the PROXY protocol (HAProxy's proxy-protocol.txt, spoken by nginx, Envoy, PostgreSQL poolers,
// Redis proxies…) lets the backend see the real client. The header goes first on the backend
// connection, before any client byte. Version 1 is one text line; version 2 a binary block
// starting with the 12-byte signature. Encoded here exactly as the specification lays them out.

import { isIPv4, isIPv6 } from 'node:net';

/** The 12-byte signature that opens every version 2 header (`\r\n\r\n\0\r\nQUIT\n`). */
export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** The two ends of a client connection as the forwarder saw them. */
export interface ConnectionEndpoints {
  /** The client's address. */
  readonly sourceAddress: string | undefined;
  /** The client's port. */
  readonly sourcePort: number | undefined;
  /** The forwarder's address the client connected to. */
  readonly destinationAddress: string | undefined;
  /** The forwarder's port the client connected to. */
  readonly destinationPort: number | undefined;
}

const MAPPED_PREFIX = '::ffff:';

/** `::ffff:1.2.3.4` (a dual-stack listener's view of an IPv4 client) → `1.2.3.4`. */
function unmap(address: string): string {
  if (address.toLowerCase().startsWith(MAPPED_PREFIX)) {
    const rest = address.slice(MAPPED_PREFIX.length);
    if (isIPv4(rest)) return rest;
  }
  return address;
}

type Family = 'TCP4' | 'TCP6' | 'UNKNOWN';

function familyOf(endpoints: ConnectionEndpoints): {
  family: Family;
  source: string;
  destination: string;
} {
  const { sourceAddress, destinationAddress, sourcePort, destinationPort } = endpoints;
  if (
    sourceAddress === undefined ||
    destinationAddress === undefined ||
    sourcePort === undefined ||
    destinationPort === undefined
  ) {
    return { family: 'UNKNOWN', source: '', destination: '' };
  }
  const source = unmap(sourceAddress);
  const destination = unmap(destinationAddress);
  if (isIPv4(source) && isIPv4(destination)) return { family: 'TCP4', source, destination };
  if (isIPv6(sourceAddress) && isIPv6(destinationAddress)) {
    return { family: 'TCP6', source: sourceAddress, destination: destinationAddress };
  }
  return { family: 'UNKNOWN', source: '', destination: '' };
}

/**
 * The version 1 (text) header: `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, `TCP6` for IPv6,
 * `PROXY UNKNOWN\r\n` when the addresses are unknown or of different families.
 */
export function encodeProxyV1(endpoints: ConnectionEndpoints): Buffer {
  const { family, source, destination } = familyOf(endpoints);
  if (family === 'UNKNOWN') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  return Buffer.from(
    `PROXY ${family} ${source} ${destination} ${String(endpoints.sourcePort)} ${String(endpoints.destinationPort)}\r\n`,
    'latin1',
  );
}

/** Writes the 16 bytes of an IPv6 address (any textual form, IPv4 tail included) at `offset`. */
function writeIPv6(target: Buffer, offset: number, address: string): void {
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const groups: number[] = [];
  const tailV4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tailV4 !== null) {
    const octets = (tailV4[1] ?? '').split('.').map(Number);
    text = `${text.slice(0, tailV4.index)}${(((octets[0] ?? 0) << 8) | (octets[1] ?? 0)).toString(16)}:${(((octets[2] ?? 0) << 8) | (octets[3] ?? 0)).toString(16)}`;
  }
  const halves = text.split('::');
  const head = halves[0] === undefined || halves[0] === '' ? [] : halves[0].split(':');
  const tail =
    halves.length > 1 && halves[1] !== undefined && halves[1] !== '' ? halves[1].split(':') : [];
  for (const group of head) groups.push(parseInt(group, 16));
  for (let i = head.length + tail.length; i < 8; i++) groups.push(0);
  for (const group of tail) groups.push(parseInt(group, 16));
  for (let i = 0; i < 8; i++) target.writeUInt16BE(groups[i] ?? 0, offset + i * 2);
}

/**
 * The version 2 (binary) header with the PROXY command over TCP: signature, `0x21`
 * (version 2, PROXY), `0x11` (TCP over IPv4) or `0x21` (TCP over IPv6), the address block's
 * length, then source and destination addresses and ports in network order. Unknown or mixed
 * families give the LOCAL command (`0x20`, family `0x00`, no addresses), which tells the backend
 * to use the connection's own addresses.
 */
export function encodeProxyV2(endpoints: ConnectionEndpoints): Buffer {
  const { family, source, destination } = familyOf(endpoints);
  const addressLength = family === 'TCP4' ? 12 : family === 'TCP6' ? 36 : 0;
  const header = Buffer.allocUnsafe(16 + addressLength);
  PROXY_V2_SIGNATURE.copy(header, 0);
  header[12] = family === 'UNKNOWN' ? 0x20 : 0x21;
  header[13] = family === 'TCP4' ? 0x11 : family === 'TCP6' ? 0x21 : 0x00;
  header.writeUInt16BE(addressLength, 14);
  if (family === 'TCP4') {
    let offset = 16;
    for (const address of [source, destination]) {
      for (const octet of address.split('.')) header[offset++] = Number(octet);
    }
    header.writeUInt16BE(endpoints.sourcePort ?? 0, 24);
    header.writeUInt16BE(endpoints.destinationPort ?? 0, 26);
  } else if (family === 'TCP6') {
    writeIPv6(header, 16, source);
    writeIPv6(header, 32, destination);
    header.writeUInt16BE(endpoints.sourcePort ?? 0, 48);
    header.writeUInt16BE(endpoints.destinationPort ?? 0, 50);
  }
  return header;
}

/** The header of `version` for a client socket's endpoints. */
export function encodeProxyHeader(version: 'v1' | 'v2', endpoints: ConnectionEndpoints): Buffer {
  return version === 'v1' ? encodeProxyV1(endpoints) : encodeProxyV2(endpoints);
}
