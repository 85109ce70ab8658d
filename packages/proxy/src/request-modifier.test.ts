import { describe, expect, it } from 'vitest';
import { rewriteHost, upstreamRequestHeaders } from './request-modifier.js';

const forwarding = {
  'x-forwarded-for': '127.0.0.1',
  'x-forwarded-proto': 'http',
  'x-forwarded-host': 'shop.example',
  forwarded: 'for=127.0.0.1;host=shop.example;proto=http',
};

describe('upstreamRequestHeaders', () => {
  it('strips hop-by-hop names, then adds the forwarding headers and traceparent', () => {
    const headers = upstreamRequestHeaders(
      {
        host: 'shop.example',
        connection: 'keep-alive, x-forwarded-for, x-private',
        'x-private': '1',
        'keep-alive': 'timeout=5',
        expect: '100-continue',
        'x-forwarded-for': '6.6.6.6',
        accept: 'text/html',
      },
      forwarding,
      '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    );
    expect(headers).toEqual({
      host: 'shop.example',
      accept: 'text/html',
      ...forwarding,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
  });

  it('keeps tracestate for a continued trace and drops it for a new one', () => {
    const incoming = { host: 'shop.example', tracestate: 'vendor=1' };
    expect(upstreamRequestHeaders(incoming, forwarding, 'tp', true).tracestate).toBe('vendor=1');
    expect(upstreamRequestHeaders(incoming, forwarding, 'tp', false)).not.toHaveProperty(
      'tracestate',
    );
    expect(incoming.tracestate).toBe('vendor=1');
  });

  it('rewrites Host per attempt', () => {
    const headers = upstreamRequestHeaders({ host: 'shop.example' }, forwarding, 'tp');
    rewriteHost(headers, '10.0.0.1:8080');
    expect(headers.host).toBe('10.0.0.1:8080');
    expect(headers['x-forwarded-host']).toBe('shop.example');
  });
});
