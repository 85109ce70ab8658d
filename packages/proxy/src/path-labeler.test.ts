import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  MAX_PATH_LABEL_LENGTH,
  OTHER_PATH_LABEL,
  PathLabeler,
  normalizePath,
} from './path-labeler.js';

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/users/123', '/users/:id'],
    ['/users/123/orders/456?page=2', '/users/:id/orders/:id'],
    ['/items/0f8fad5b-d9cb-469f-a165-70867728950e', '/items/:uuid'],
    ['/items/0F8FAD5B-D9CB-469F-A165-70867728950E/x', '/items/:uuid/x'],
    ['/objects/507f1f77bcf86cd799439011', '/objects/:hex'],
    ['/commits/da39a3ee5e6b4b0d3255bfef95601890afd80709', '/commits/:hex'],
    ['/api/v1/cafe', '/api/v1/cafe'],
    ['/api/deadbeef', '/api/deadbeef'],
    ['/search?q=1', '/search'],
    ['/page#frag', '/page'],
    ['/a//b/', '/a//b/'],
    ['*', '*'],
    ['http://example.com/x', OTHER_PATH_LABEL],
    ['', OTHER_PATH_LABEL],
    [`/${'z'.repeat(MAX_PATH_LABEL_LENGTH)}`, OTHER_PATH_LABEL],
  ])('%s → %s', (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  test.prop([fc.array(fc.nat({ max: 1e12 }), { minLength: 1, maxLength: 5 })])(
    'any numeric ids in the same shape share one label',
    (ids) => {
      const path = ids.map((id, i) => `/r${i}/${id}`).join('');
      expect(normalizePath(path)).toBe(ids.map((_, i) => `/r${i}/:id`).join(''));
    },
  );

  test.prop([fc.uuid(), fc.string()])('UUIDs collapse, whatever the query', (uuid, query) => {
    expect(normalizePath(`/things/${uuid}?${query}`)).toBe('/things/:uuid');
  });
});

describe('PathLabeler', () => {
  it('rejects a bad cap with a RangeError naming the option', () => {
    expect(() => new PathLabeler({ maxLabels: 0 })).toThrow(/maxLabels/);
    expect(() => new PathLabeler({ maxLabels: 1.5 })).toThrow(RangeError);
  });

  it('keeps the first labels and maps later new ones to other', () => {
    const labeler = new PathLabeler({ maxLabels: 3 });
    expect(labeler.label('/a')).toBe('/a');
    expect(labeler.label('/b/1')).toBe('/b/:id');
    expect(labeler.label('/c')).toBe(OTHER_PATH_LABEL);
    expect(labeler.label('/b/2')).toBe('/b/:id');
    expect(labeler.label('/a?x=1')).toBe('/a');
    expect(labeler.size).toBe(2);
  });

  it('with a cap of 1 labels everything other', () => {
    const labeler = new PathLabeler({ maxLabels: 1 });
    expect(labeler.label('/')).toBe(OTHER_PATH_LABEL);
  });

  const paths = fc.array(
    fc.oneof(
      fc.webPath(),
      fc.string(),
      fc.nat().map((n) => `/n/${n}`),
      fc.stringMatching(/^\/[a-z]{1,3}(\/[a-z0-9]{1,4}){0,3}$/),
    ),
    { maxLength: 300 },
  );

  test.prop([fc.integer({ min: 1, max: 40 }), paths])(
    'never hands out more distinct labels than the cap',
    (maxLabels, targets) => {
      const labeler = new PathLabeler({ maxLabels });
      const seen = new Set(targets.map((t) => labeler.label(t)));
      expect(seen.size).toBeLessThanOrEqual(maxLabels);
      expect(labeler.size).toBeLessThan(maxLabels);
    },
  );

  test.prop([paths])('a label, once given, is given again for the same path', (targets) => {
    const labeler = new PathLabeler({ maxLabels: 20 });
    const first = targets.map((t) => labeler.label(t));
    expect(targets.map((t) => labeler.label(t))).toEqual(first);
  });
});
