import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  TRACE_FLAG_SAMPLED,
  formatTraceparent,
  nextTraceparent,
  parseTraceparent,
  randomSpanId,
  randomTraceId,
} from './trace-context.js';

const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const hex = (length: number): fc.Arbitrary<string> =>
  fc.stringMatching(new RegExp(`^[0-9a-f]{${String(length)}}$`)).filter((s) => !/^0+$/.test(s));

describe('parseTraceparent', () => {
  it('parses the specification example', () => {
    expect(parseTraceparent(VALID)).toEqual({
      version: '00',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentId: 'b7ad6b7169203331',
      traceFlags: 1,
    });
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['uppercase hex', '00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01'],
    ['all-zero trace id', '00-00000000000000000000000000000000-b7ad6b7169203331-01'],
    ['all-zero parent id', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01'],
    ['version ff', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    ['version 00 with a suffix', `${VALID}-extra`],
    ['version 00 too long', `${VALID}0`],
    ['too short', VALID.slice(0, 54)],
    ['non-hex version', 'g0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    ['non-hex flags', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0z'],
    ['wrong separators', '00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
    ['short trace id', '00-0af7651916cd43dd8448eb211c8031-b7ad6b716920333100-01'],
    ['two joined headers', `${VALID}, ${VALID}`],
    ['leading space', ` ${VALID.slice(1)}`],
    [
      'future version, no dash after flags',
      `cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x`,
    ],
  ])('rejects %s', (_, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
  });

  it('parses a later version by its 00 prefix, ignoring what follows', () => {
    expect(
      parseTraceparent(`cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09-what-ever`),
    ).toEqual({
      version: 'cc',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentId: 'b7ad6b7169203331',
      traceFlags: 9,
    });
    expect(
      parseTraceparent(`01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01`)?.version,
    ).toBe('01');
  });

  test.prop([hex(32), hex(16), fc.integer({ min: 0, max: 255 })])(
    'round-trips any valid version 00 value',
    (traceId, spanId, flags) => {
      const value = formatTraceparent(traceId, spanId, flags);
      expect(value).toHaveLength(55);
      expect(parseTraceparent(value)).toEqual({
        version: '00',
        traceId,
        parentId: spanId,
        traceFlags: flags,
      });
    },
  );

  test.prop([fc.string({ maxLength: 80 })])(
    'never throws and only accepts well-formed values',
    (value) => {
      const parsed = parseTraceparent(value);
      if (parsed !== undefined) {
        expect(value.slice(0, 55)).toBe(
          `${parsed.version}-${parsed.traceId}-${parsed.parentId}-${value.slice(53, 55)}`,
        );
      }
    },
  );

  test.prop([fc.integer({ min: 0, max: 54 }), fc.constantFrom('A', 'G', '-', ' ', 'z')])(
    'rejects a valid value with any one character replaced by a non-hex one',
    (position, replacement) => {
      const original = VALID[position];
      fc.pre(original !== replacement && original !== '-');
      const mutated = VALID.slice(0, position) + replacement + VALID.slice(position + 1);
      expect(parseTraceparent(mutated)).toBeUndefined();
    },
  );
});

describe('nextTraceparent', () => {
  it('keeps the trace id and flags of the parent and uses a new span id', () => {
    const parent = parseTraceparent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00')!;
    const next = nextTraceparent(parent);
    expect(next.traceId).toBe(parent.traceId);
    expect(next.parentSpanId).toBe('b7ad6b7169203331');
    expect(next.spanId).not.toBe(parent.parentId);
    expect(next.traceFlags).toBe(0);
    expect(next.traceparent).toBe(`00-${parent.traceId}-${next.spanId}-00`);
    expect(parseTraceparent(next.traceparent)).toEqual({
      version: '00',
      traceId: parent.traceId,
      parentId: next.spanId,
      traceFlags: 0,
    });
  });

  it('answers a later version with version 00, keeping all flag bits', () => {
    const parent = parseTraceparent('cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03-x')!;
    expect(nextTraceparent(parent).traceparent).toMatch(
      /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-03$/,
    );
  });

  it('starts a sampled trace when there is no parent', () => {
    const next = nextTraceparent(undefined);
    expect(next.parentSpanId).toBeUndefined();
    expect(next.traceFlags).toBe(TRACE_FLAG_SAMPLED);
    expect(parseTraceparent(next.traceparent)).toEqual({
      version: '00',
      traceId: next.traceId,
      parentId: next.spanId,
      traceFlags: 1,
    });
  });

  it('uses a span id and flags chosen by a tracer', () => {
    const next = nextTraceparent(undefined, { spanId: '00f067aa0ba902b7', traceFlags: 0 });
    expect(next.traceparent).toBe(`00-${next.traceId}-00f067aa0ba902b7-00`);
  });

  it('draws distinct, valid ids (across pool refills)', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = randomTraceId();
      const s = randomSpanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      traces.add(t);
      spans.add(s);
    }
    expect(traces.size).toBe(1000);
    expect(spans.size).toBe(1000);
  });
});
