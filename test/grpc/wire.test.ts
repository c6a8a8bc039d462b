import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reader, WIRE_LEN, Writer } from '../../src/grpc/wire.js';

/** Writes `values` as string fields 1..n, with field 9 a nested message holding the same strings. */
function encode(values: readonly string[]): Buffer {
  const w = new Writer();
  values.forEach((v, i) => w.string(i + 1, v));
  w.open(9);
  values.forEach((v, i) => w.string(i + 1, v));
  w.close();
  return w.finish();
}

function decode(buf: Buffer): { top: string[]; nested: string[] } {
  const out = { top: [] as string[], nested: [] as string[] };
  const r = new Reader(buf, 0, buf.length);
  while (r.more()) {
    const tag = r.uint32();
    expect(tag & 7).toBe(WIRE_LEN);
    if (tag >>> 3 === 9) {
      const m = r.message();
      while (m.more()) {
        m.uint32();
        out.nested.push(m.string());
      }
    } else out.top.push(r.string());
  }
  return out;
}

describe('wire Reader.string', () => {
  it('reads ASCII, Latin-1-range, multi-byte and astral text exactly as UTF-8 decoding does, side by side in one buffer', () => {
    const values = ['api.openai.com', 'café', 'naïve ü', '東京', 'emoji 😀 here', '', 'ÿ\u0080', 'plain'];
    expect(decode(encode(values))).toEqual({ top: values, nested: values });
  });

  it('reads large buffers (no shared text) the same way', () => {
    const values = ['x'.repeat(20_000), 'é'.repeat(3), 'tail'];
    expect(decode(encode(values))).toEqual({ top: values, nested: values });
  });

  it('matches Buffer UTF-8 decoding for any strings (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 30 }), { maxLength: 8 }), (values) => {
        const expected = values.map((v) => Buffer.from(v, 'utf8').toString('utf8'));
        expect(decode(encode(values))).toEqual({ top: expected, nested: expected });
      }),
      { numRuns: 300 },
    );
  });
});
