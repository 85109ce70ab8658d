import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { parseUpstream, Upstream } from './upstream.js';

describe('Upstream', () => {
  it('is an immutable value with defaults for name and weight', () => {
    const api = new Upstream({ scheme: 'https', host: 'API.Example.com', port: 443 });
    expect(api.toJSON()).toEqual({
      scheme: 'https',
      host: 'api.example.com',
      port: 443,
      name: 'api.example.com:443',
      weight: 1,
    });
    expect(api.origin).toBe('https://api.example.com:443');
    expect(api.secure).toBe(true);
    expect(String(api)).toBe('https://api.example.com:443');
    expect(Object.isFrozen(api)).toBe(true);
    expect(() => {
      (api as { port: number }).port = 80;
    }).toThrow(TypeError);
  });

  it('follows the seed: with_weight and with_name return new values', () => {
    const api = new Upstream({ scheme: 'https', host: 'api.example.com', port: 443 });
    const primary = api.withWeight(10).withName('api-primary');
    expect(primary).not.toBe(api);
    expect(primary.weight).toBe(10);
    expect(primary.name).toBe('api-primary');
    expect(primary.origin).toBe(api.origin);
    expect(api.weight).toBe(1);
  });

  it('satisfies the load balancer’s structural UpstreamLike', () => {
    const like: { readonly name: string; readonly weight?: number } = Upstream.parse(
      'http://10.0.0.1:8080',
      { weight: 3 },
    );
    expect(like).toMatchObject({ name: '10.0.0.1:8080', weight: 3 });
  });

  it('defaults the scheme to tcp and brackets IPv6 hosts in name and origin', () => {
    const v6 = new Upstream({ host: '[::1]', port: 5432 });
    expect(v6.scheme).toBe('tcp');
    expect(v6.host).toBe('::1');
    expect(v6.name).toBe('[::1]:5432');
    expect(v6.origin).toBe('tcp://[::1]:5432');
    expect(v6.secure).toBe(false);
  });

  it.each([
    [{ host: 'a', port: 0 }, 'Upstream: port must be an integer in [1, 65535], got 0'],
    [{ host: 'a', port: 65536 }, 'port must be an integer in [1, 65535]'],
    [{ host: 'a', port: 80.5 }, 'port must be an integer'],
    [{ host: '', port: 80 }, 'Upstream: host must be a host name or an IP address, got ""'],
    [{ host: 'a b', port: 80 }, 'host must be'],
    [{ host: 'a/b', port: 80 }, 'host must be'],
    [{ host: 'a', port: 80, weight: 0 }, 'Upstream: weight must be a number in (0, '],
    [{ host: 'a', port: 80, weight: -1 }, 'weight must be'],
    [{ host: 'a', port: 80, weight: Number.NaN }, 'weight must be'],
    [{ host: 'a', port: 80, name: '' }, 'Upstream: name must be a non-empty string, got ""'],
    [{ host: 'a', port: 80, scheme: 'ftp' }, 'Upstream: scheme must be one of http, https, tcp'],
  ] as const)('rejects %o with a RangeError naming the field', (init, message) => {
    expect(() => new Upstream(init as never)).toThrow(RangeError);
    expect(() => new Upstream(init as never)).toThrow(message);
  });
});

describe('Upstream.parse', () => {
  it.each([
    ['http://10.0.0.1:8080', 'http', '10.0.0.1', 8080],
    ['http://10.0.0.1', 'http', '10.0.0.1', 80],
    ['https://api.example.com', 'https', 'api.example.com', 443],
    ['https://api.example.com/', 'https', 'api.example.com', 443],
    ['HTTPS://API.EXAMPLE.COM:8443', 'https', 'api.example.com', 8443],
    ['tcp://db.internal:5432', 'tcp', 'db.internal', 5432],
    ['tls://[2001:db8::1]:6379', 'tls', '2001:db8::1', 6379],
    ['  tcp://127.0.0.1:1  ', 'tcp', '127.0.0.1', 1],
    ['127.0.0.1:6379', 'tcp', '127.0.0.1', 6379],
    ['localhost:65535', 'tcp', 'localhost', 65535],
    ['[::1]:80', 'tcp', '::1', 80],
  ] as const)('parses %s', (input, scheme, host, port) => {
    const upstream = Upstream.parse(input);
    expect(upstream.toJSON()).toMatchObject({ scheme, host, port });
  });

  it('takes name and weight, and a default scheme for bare host:port', () => {
    const upstream = parseUpstream('10.0.0.2:443', {
      name: 'edge',
      weight: 2.5,
      defaultScheme: 'https',
    });
    expect(upstream.toJSON()).toEqual({
      scheme: 'https',
      host: '10.0.0.2',
      port: 443,
      name: 'edge',
      weight: 2.5,
    });
  });

  it.each([
    ['', 'it is empty'],
    ['ftp://a:21', 'unsupported scheme "ftp"'],
    ['tcp://db.internal', 'a port is required for tcp://'],
    ['tls://db.internal', 'a port is required for tls://'],
    ['http://a:0', 'the port 0 is out of range'],
    ['http://a:65536', 'the port 65536 is out of range'],
    ['http://a:123456', 'the port "123456" is not a number'],
    ['http://a:http', 'the port "http" is not a number'],
    ['http://a:', 'the port "" is not a number'],
    ['http://a:80/api', 'a path ("/api") is not allowed'],
    ['http://a:80?x=1', 'a query is not allowed'],
    ['http://a:80/?x=1', 'a query is not allowed'],
    ['http://a:80#top', 'a fragment is not allowed'],
    ['http://user:pass@a:80', 'credentials are not allowed'],
    ['http://:80', 'the host is missing'],
    ['http://[]:80', 'the host is missing'],
    ['http://[::1:80', 'missing its "]"'],
    ['http://[::1]x', 'unexpected "x" after the host'],
    ['tcp://::1:80', 'must be written in brackets'],
    ['http://a b:80', 'is not a valid host name or IP'],
    ['http:a:80', 'the scheme must be followed by "//"'],
  ])('rejects %j with a TypeError naming the input and the reason', (input, reason) => {
    let error: unknown;
    try {
      Upstream.parse(input);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TypeError);
    const message = (error as Error).message;
    expect(message).toContain(`Upstream.parse: ${JSON.stringify(input)} is not a valid upstream`);
    expect(message).toContain(reason);
    expect(message).toContain('expected scheme://host[:port] with scheme http, https, tcp or tls');
  });

  it('rejects a bad name or weight with the constructor’s RangeError', () => {
    expect(() => Upstream.parse('http://a', { weight: 0 })).toThrow(RangeError);
    expect(() => Upstream.parse('http://a', { name: '' })).toThrow(RangeError);
  });

  test.prop([
    fc.constantFrom('http', 'https', 'tcp', 'tls'),
    fc.oneof(fc.ipV4(), fc.domain(), fc.ipV6()),
    fc.integer({ min: 1, max: 65535 }),
  ])('round-trips through origin', (scheme, host, port) => {
    const upstream = new Upstream({ scheme, host, port });
    const again = Upstream.parse(upstream.origin);
    expect(again.toJSON()).toEqual(upstream.toJSON());
    expect(again.origin).toBe(upstream.origin);
  });
});
