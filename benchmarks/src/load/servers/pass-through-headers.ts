/**
 * Why: both bare undici pass-throughs of the proxy suite drop the same headers, the ones that
 * describe one connection rather than the message (undici refuses most of them), and nothing
 * more; one copy keeps the two references comparable.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Headers that describe one connection, not the message; undici rejects most of them. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
]);

/** `headers` without the hop-by-hop names (and Host, which undici sets for the upstream). */
export function withoutHopByHop(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}
