import { describe, expect, it } from 'vitest';
import { clientResponseHeaders } from './response-modifier.js';

describe('clientResponseHeaders', () => {
  const upstream = {
    'content-type': 'text/plain',
    connection: 'x-internal',
    'x-internal': 'secret',
    'transfer-encoding': 'chunked',
    'set-cookie': ['a=1', 'b=2'],
  };

  it('drops hop-by-hop names and those listed in Connection', () => {
    expect(clientResponseHeaders(upstream, undefined)).toEqual({
      'content-type': 'text/plain',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it('adds the debug headers only when asked', () => {
    const headers = clientResponseHeaders(upstream, { upstream: 'http://a:1', attempts: 2 });
    expect(headers['x-proxykit-upstream']).toBe('http://a:1');
    expect(headers['x-proxykit-attempts']).toBe('2');
  });
});
