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
import { MAX_HEADER_COUNT, MAX_HEADER_SIZE, MAX_URI_LENGTH } from './request-validation.js';

/** A request head in the lean shape; `headers` as node:http gives them (lower-case names). */
export interface LeanHead {
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

/** A character no lean head may hold anywhere: controls other than HTAB, CR and LF, and DEL. */
const FORBIDDEN_IN_HEAD = /[^\t\r\n\x20-\x7e\x80-\xff]/;
/** A CR not followed by LF, or an LF not preceded by CR (bare line ends, obs-fold's cousins). */
const BARE_LINE_END = /\r(?!\n)|(?<!\r)\n/;
/** An origin-form target: '/' then visible ASCII only, no '#' (fragments are refused later). */
const ORIGIN_FORM = /^\/[\x21-\x22\x24-\x7e]*$/;
/** A field line: a token, ':' at once, then the value (whitespace around it dropped). */
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*(.*?)[\t ]*$/;
/** A Host value as request-validation.ts accepts it. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::\d{0,5})?$/;

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
  if (head.length > MAX_HEADER_SIZE || FORBIDDEN_IN_HEAD.test(head) || BARE_LINE_END.test(head)) {
    return undefined;
  }
  const lineEnd = head.indexOf('\r\n');
  if (lineEnd === -1) return undefined;
  const space = head.indexOf(' ');
  const method = leanMethod(head.slice(0, space));
  if (method === undefined) return undefined;
  const targetEnd = head.indexOf(' ', space + 1);
  if (targetEnd === -1 || targetEnd > lineEnd) return undefined;
  if (head.slice(targetEnd + 1, lineEnd) !== 'HTTP/1.1') return undefined;
  const url = head.slice(space + 1, targetEnd);
  if (url.length > MAX_URI_LENGTH || !ORIGIN_FORM.test(url)) return undefined;

  const headers: Record<string, string> = {};
  const rawHeaders: string[] = [];
  let keepAlive = true;
  let hasHost = false;
  let start = lineEnd + 2;
  while (start < head.length) {
    let end = head.indexOf('\r\n', start);
    if (end === -1) end = head.length;
    const field = FIELD_LINE.exec(head.slice(start, end));
    start = end + 2;
    if (field === null) return undefined;
    const name = field[1] ?? '';
    const value = field[2] ?? '';
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
