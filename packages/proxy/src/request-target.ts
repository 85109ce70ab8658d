// Why: HTTP/1.1 lets a request name its target two ways (RFC 9112 §3.2): origin-form
// (`/path?query`, with the authority in Host) and absolute-form (`http://host:port/path?query`),
// which clients send to proxies and which every server "MUST accept" (§3.2.2). Both forms reach
// the rest of the proxy as one: an absolute-form target is rewritten to the origin-form of its
// path and query, and its authority replaces the Host header, since a server receiving
// absolute-form "MUST ignore the received Host header field" (§3.2.2) — so the metric label,
// X-Forwarded-Host, Forwarded and the upstream request all see the authority the client
// addressed, and never two different ones. nginx does the same; HAProxy accepts absolute-form
// only when Host agrees with it. `OPTIONS *` (asterisk-form) stays refused, as nginx refuses it:
// it asks about the proxy itself, not about a resource of the upstream.

import type { IncomingMessage } from 'node:http';

/** An absolute-form request target split into the parts the proxy uses. */
export interface AbsoluteFormTarget {
  /** The authority (`host[:port]`), as written; its host never empty, never with user information. */
  readonly authority: string;
  /** The same target in origin-form: its path (`/` when empty) and query. */
  readonly originForm: string;
}

/** `http://` or `https://` (any case), the authority, then a path-abempty and an optional query. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i;

/**
 * Splits an `http:` or `https:` absolute-form request target; `undefined` for anything else
 * (origin-form, other schemes, an empty authority, user information, a fragment). The authority is
 * not validated here: the caller checks it as it checks a Host header.
 *
 * @example
 * ```ts
 * parseAbsoluteForm('http://example.com:8080?q=1'); // { authority: 'example.com:8080', originForm: '/?q=1' }
 * ```
 */
export function parseAbsoluteForm(target: string): AbsoluteFormTarget | undefined {
  const match = ABSOLUTE_FORM.exec(target);
  if (match === null) return undefined;
  const authority = match[1] ?? '';
  // RFC 9110 §4.2.1: an http URI with an empty host is invalid; §4.2.4: user information is
  // deprecated and must not be sent, since it is used to fool people about the real host.
  if (authority === '' || authority.startsWith(':') || authority.includes('@')) return undefined;
  const path = match[2] ?? '';
  return { authority, originForm: (path === '' ? '/' : path) + (match[3] ?? '') };
}

/**
 * Rewrites an accepted request whose target is in absolute-form to origin-form: `req.url` becomes
 * the path and query, and `req.headers.host` the target's authority. Origin-form requests are left
 * as they are. Call it only after the head was validated (`validateRequestHead`).
 */
export function adoptOriginForm(req: IncomingMessage): void {
  const url = req.url;
  if (url === undefined || url.charCodeAt(0) === 47 /* '/' */) return;
  const target = parseAbsoluteForm(url);
  if (target === undefined) return;
  req.url = target.originForm;
  req.headers.host = target.authority;
}

/** Splits the path off a request target (`/a/b?x=1` → `/a/b`). */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
