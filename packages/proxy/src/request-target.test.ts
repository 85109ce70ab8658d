import type { IncomingMessage } from 'node:http';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { adoptOriginForm, parseAbsoluteForm } from './request-target.js';

function request(url: string, host = 'client.example'): IncomingMessage {
  return { url, headers: { host } } as unknown as IncomingMessage;
}

describe('parseAbsoluteForm', () => {
  it.each([
    ['http://example.com/a/b?c=d', 'example.com', '/a/b?c=d'],
    ['HTTP://Example.COM:8080/', 'Example.COM:8080', '/'],
    ['https://example.com', 'example.com', '/'],
    ['http://example.com?q=1', 'example.com', '/?q=1'],
    ['http://[2001:db8::1]:8080/x', '[2001:db8::1]:8080', '/x'],
    ['http://10.0.0.1/a?b?c', '10.0.0.1', '/a?b?c'],
  ])('%s → authority %s, origin-form %s', (target, authority, originForm) => {
    expect(parseAbsoluteForm(target)).toEqual({ authority, originForm });
  });

  it.each([
    '/a',
    '*',
    'example.com:80',
    'ftp://example.com/',
    'http:example.com/',
    'http://',
    'http:///a',
    'http://:8080/',
    'http://user:secret@example.com/',
    'http://example.com/#fragment',
  ])('refuses %s', (target) => {
    expect(parseAbsoluteForm(target)).toBeUndefined();
  });

  test.prop(
    [
      fc.constantFrom('http', 'https', 'HTTP', 'Https'),
      fc.domain(),
      fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
      fc.webPath(),
      fc.option(fc.webQueryParameters(), { nil: undefined }),
    ],
    { numRuns: 300 },
  )(
    'gives back the authority and the origin-form of the same URL',
    (scheme, host, port, path, query) => {
      const authority = port === undefined ? host : `${host}:${String(port)}`;
      const suffix = query === undefined ? '' : `?${query}`;
      const parsed = parseAbsoluteForm(`${scheme}://${authority}${path}${suffix}`);
      expect(parsed).toEqual({ authority, originForm: `${path === '' ? '/' : path}${suffix}` });
    },
  );
});

describe('adoptOriginForm', () => {
  it('rewrites an absolute-form target and takes the Host from it', () => {
    const req = request('http://upstream.example:8080/a?b', 'other.example');
    adoptOriginForm(req);
    expect(req.url).toBe('/a?b');
    expect(req.headers.host).toBe('upstream.example:8080');
  });

  it('leaves an origin-form target and its Host alone', () => {
    const req = request('/a?b', 'client.example');
    adoptOriginForm(req);
    expect(req.url).toBe('/a?b');
    expect(req.headers.host).toBe('client.example');
  });
});
