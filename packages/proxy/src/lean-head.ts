/**
 * Why: most requests a reverse proxy sees are plain: a body-less GET, HEAD, DELETE or OPTIONS over
 * HTTP/1.1 whose whole head arrived in one read. Node's HTTP server spends more CPU on each of
 * them than the proxy's every feature together (a parser callback per field, an IncomingMessage
 * stream, a ServerResponse stream over the socket's stream). This reads such a head directly, and
 * only such a head: anything outside that narrow, strictly checked shape (another method or
 * version, a body, an Upgrade or Expect, a duplicate field, a character out of place, a head too
 * large) is declined, and the connection goes to Node's server, which answers it with all its
 * checks. The lean reader never rejects a request itself, so it can never be the weaker of the two.
 */
import { HOST, MAX_HEADER_COUNT, MAX_HEADER_SIZE, MAX_URI_LENGTH } from './request-validation.js';

/** A request head in the lean shape; `headers` as node:http gives them (lower-case names). */
export interface LeanHead {
  /** The only methods read here: none of them carries a body without framing fields. */
  readonly method: 'GET' | 'HEAD' | 'DELETE' | 'OPTIONS';
  /** The origin-form request target. */
  readonly url: string;
  /** Field values without surrounding whitespace, by lower-case name; no name repeats. */
  readonly headers: Record<string, string>;
  /** Names and values as received, alternating, as `IncomingMessage.rawHeaders`. */
  readonly rawHeaders: string[];
  /** False when the client sent `Connection: close`. */
  readonly keepAlive: boolean;
}

/** Characters of a token (RFC 9110 §5.6.2), by char code. */
const TOKEN_CHAR = new Uint8Array(128);
for (const char of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TOKEN_CHAR[char.charCodeAt(0)] = 1;
}

/**
 * Fields that take a request off the lean path: framing of a body, protocol switches and
 * expectations, which Node's server handles.
 */
const DECLINED_FIELDS: ReadonlySet<string> = new Set([
  'content-length',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);

/**
 * Reads `head` (the bytes before the blank line, as latin1) as a {@link LeanHead}, or returns
 * `undefined` when it is not one, for Node's server to handle.
 */
export function parseLeanHead(head: string): LeanHead | undefined {
  if (head.length > MAX_HEADER_SIZE) return undefined;
  const lineEnd = head.indexOf('\r\n');
  if (lineEnd === -1) return undefined;
  const space = head.indexOf(' ');
  const method = leanMethod(head.slice(0, space));
  if (method === undefined) return undefined;
  const targetEnd = head.indexOf(' ', space + 1);
  if (targetEnd === -1 || targetEnd > lineEnd) return undefined;
  if (head.slice(targetEnd + 1, lineEnd) !== 'HTTP/1.1') return undefined;
  const url = head.slice(space + 1, targetEnd);
  if (url.length > MAX_URI_LENGTH || !isOriginForm(url)) return undefined;

  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  let keepAlive = true;
  let hasHost = false;
  let start = lineEnd + 2;
  while (start < head.length) {
    let end = head.indexOf('\r\n', start);
    if (end === -1) end = head.length;
    const colon = tokenEnd(head, start, end);
    if (colon === start || head.charCodeAt(colon) !== 58 /* ':' */) return undefined;
    const value = fieldValue(head, colon + 1, end);
    if (value === undefined) return undefined;
    const name = head.slice(start, colon);
    start = end + 2;
    const lower = name.toLowerCase();
    if (Object.hasOwn(headers, lower) || DECLINED_FIELDS.has(lower) || lower === '__proto__') {
      return undefined;
    }
    if (lower === 'host') {
      if (!HOST.test(value)) return undefined;
      hasHost = true;
    } else if (lower === 'connection') {
      const tokens = value.toLowerCase();
      if (tokens.includes('upgrade')) return undefined;
      if (tokens.includes('close')) keepAlive = false;
    }
    headers[lower] = value;
    rawHeaders.push(name, value);
  }
  if (!hasHost || rawHeaders.length / 2 > MAX_HEADER_COUNT) return undefined;
  return { method, url, headers, rawHeaders, keepAlive };
}

function leanMethod(method: string): LeanHead['method'] | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'DELETE':
    case 'OPTIONS':
      return method;
    default:
      return undefined;
  }
}

/** '/' then visible ASCII only, without '#' (fragments are refused later). */
function isOriginForm(url: string): boolean {
  if (url.charCodeAt(0) !== 47 /* '/' */) return false;
  for (let i = 1; i < url.length; i++) {
    const code = url.charCodeAt(i);
    if (code < 0x21 || code > 0x7e || code === 35 /* '#' */) return false;
  }
  return true;
}

/** Where the token starting at `start` ends (at `end` at most). */
function tokenEnd(text: string, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const code = text.charCodeAt(i);
    if (code >= 128 || TOKEN_CHAR[code] !== 1) break;
    i++;
  }
  return i;
}

/**
 * The field value between `start` and `end`, without the spaces and tabs around it; `undefined`
 * when it holds a character a value may not (controls but HTAB, DEL, and so CR, LF and NUL).
 */
function fieldValue(text: string, start: number, end: number): string | undefined {
  let first = start;
  while (first < end && isBlank(text.charCodeAt(first))) first++;
  let last = end;
  while (last > first && isBlank(text.charCodeAt(last - 1))) last--;
  for (let i = first; i < last; i++) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 9) || code === 0x7f || code > 0xff) return undefined;
  }
  return text.slice(first, last);
}

function isBlank(code: number): boolean {
  return code === 32 || code === 9;
}
