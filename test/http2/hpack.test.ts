import fc from 'fast-check';
import * as http2 from 'node:http2';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { CLIENT_PREFACE, Flag, FrameType } from '../../src/http2/frames.js';
import { HpackDecoder, HpackEncoder, HpackError } from '../../src/http2/hpack.js';
import { EOS, HUFFMAN_BITS, HUFFMAN_CODES, huffmanDecode } from '../../src/http2/huffman.js';

/**
 * HPACK against RFC 7541's own examples (Appendix C, hex verbatim), its error cases, and real
 * peers: nghttp2 inside node:http2 encodes request blocks for our decoder (Huffman, dynamic
 * table, never-indexed fields, CONTINUATION) and decodes the blocks our encoder writes.
 */

type Field = [string, string];

/** Bytes from an RFC-style hex dump (whitespace ignored). */
function hex(dump: string): Buffer {
  return Buffer.from(dump.replace(/\s+/g, ''), 'hex');
}

function pairs(fields: readonly string[] | null): Field[] {
  if (fields === null) throw new Error('header list was refused as too large');
  const out: Field[] = [];
  for (let i = 0; i < fields.length; i += 2) out.push([fields[i]!, fields[i + 1]!]);
  return out;
}

/** A reference Huffman encoder, bit by bit from the table (the source has no encoder). */
function huffman(s: string): Buffer {
  let bits = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    bits += HUFFMAN_CODES[c]!.toString(2).padStart(HUFFMAN_BITS[c]!, '0');
  }
  bits += '1'.repeat((8 - (bits.length % 8)) % 8);
  const out = Buffer.alloc(bits.length / 8);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(bits.slice(8 * i, 8 * i + 8), 2);
  return out;
}

/** §5.1 integer (reference encoder): `flags` in the bits above the prefix. */
function integer(value: number, prefixBits: number, flags = 0): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) return [flags | value];
  const out = [flags | max];
  for (value -= max; value >= 128; value = Math.floor(value / 128)) out.push((value % 128) + 128);
  out.push(value);
  return out;
}

/** §5.2 string literal, raw or Huffman-coded. */
function literal(s: string, huffmanCoded = false): number[] {
  const bytes = huffmanCoded ? huffman(s) : Buffer.from(s, 'latin1');
  return [...integer(bytes.length, 7, huffmanCoded ? 0x80 : 0), ...bytes];
}

/** Strings of any octets (one latin1 char each). */
function octets(maxLength: number): fc.Arbitrary<string> {
  return fc.uint8Array({ maxLength }).map((b) => Buffer.from(b).toString('latin1'));
}

function decodeError(block: Uint8Array, decoder = new HpackDecoder()): HpackError {
  try {
    decoder.decode(block);
  } catch (err) {
    expect(err).toBeInstanceOf(HpackError);
    return err as HpackError;
  }
  throw new Error('block decoded without error');
}

interface Step {
  readonly block: string;
  readonly fields: Field[];
  /** Dynamic table after the block, newest first. */
  readonly table: Field[];
  readonly size: number;
}

function runSteps(decoder: HpackDecoder, steps: readonly Step[]): void {
  for (const step of steps) {
    expect(pairs(decoder.decode(hex(step.block)))).toEqual(step.fields);
    const table = decoder.dynamicTable();
    expect(pairs(table.fields)).toEqual(step.table);
    expect(table.size).toBe(step.size);
  }
}

// RFC 7541 Appendix C.3 and C.4 decode to the same lists and tables.
const REQUEST_1: Field[] = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQUEST_2: Field[] = [...REQUEST_1, ['cache-control', 'no-cache']];
const REQUEST_3: Field[] = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const REQUEST_TABLES: Field[][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];

// Appendix C.5 and C.6 (SETTINGS_HEADER_TABLE_SIZE 256).
const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSE_1: Field[] = [[':status', '302'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]];
const RESPONSE_2: Field[] = [[':status', '307'], ['cache-control', 'private'], ['date', DATE_1], ['location', LOCATION]];
const RESPONSE_3: Field[] = [[':status', '200'], ['cache-control', 'private'], ['date', DATE_2], ['location', LOCATION], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];
const RESPONSE_TABLES: Field[][] = [
  [['location', LOCATION], ['date', DATE_1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', LOCATION], ['date', DATE_1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_2]],
];

describe('Huffman code (RFC 7541 Appendix B)', () => {
  it('is a complete canonical prefix code of 257 symbols', () => {
    expect(HUFFMAN_CODES).toHaveLength(257);
    expect(HUFFMAN_BITS).toHaveLength(257);
    // Kraft sum exactly 1: no code is missing and none is wasted.
    let kraft = 0;
    for (const bits of HUFFMAN_BITS) kraft += 2 ** (30 - bits);
    expect(kraft).toBe(2 ** 30);
    // Canonical: by (length, symbol), each code is the previous one plus one, shifted to its length.
    const order = [...HUFFMAN_BITS.keys()].sort((a, b) => HUFFMAN_BITS[a]! - HUFFMAN_BITS[b]! || a - b);
    let code = -1;
    let bits = HUFFMAN_BITS[order[0]!]!;
    for (const sym of order) {
      code = (code + 1) * 2 ** (HUFFMAN_BITS[sym]! - bits);
      bits = HUFFMAN_BITS[sym]!;
      expect(HUFFMAN_CODES[sym], `symbol ${sym}`).toBe(code);
    }
  });

  it('has the RFC codes at the ends of the table', () => {
    const at = (sym: number): [number, number] => [HUFFMAN_CODES[sym]!, HUFFMAN_BITS[sym]!];
    expect(at(0)).toEqual([0x1ff8, 13]);
    expect(at(0x20)).toEqual([0x14, 6]);
    expect(at(0x30)).toEqual([0x0, 5]);
    expect(at(0x61)).toEqual([0x3, 5]);
    expect(at(0xff)).toEqual([0x3ffffee, 26]);
    expect(at(EOS)).toEqual([0x3fffffff, 30]);
  });

  it('decodes the Appendix C strings', () => {
    const cases: Array<[string, string]> = [
      ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
      ['a8eb 1064 9cbf', 'no-cache'],
      ['25a8 49e9 5ba9 7d7f', 'custom-key'],
      ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
      ['6402', '302'],
      ['aec3 771a 4b', 'private'],
      ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', DATE_1],
      ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', LOCATION],
      ['9bd9 ab', 'gzip'],
      ['94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07', COOKIE],
    ];
    for (const [dump, text] of cases) {
      const bytes = hex(dump);
      expect(huffmanDecode(bytes, 0, bytes.length)).toBe(text);
      expect(huffman(text)).toEqual(bytes);
    }
  });

  it('decodes every octet, alone and in sequence, as one latin1 char', () => {
    let all = '';
    for (let c = 0; c < 256; c++) {
      const s = String.fromCharCode(c);
      all += s;
      const bytes = huffman(s);
      expect(huffmanDecode(bytes, 0, bytes.length)).toBe(s);
    }
    const bytes = huffman(all + all);
    expect(huffmanDecode(bytes, 0, bytes.length)).toBe(all + all);
    expect(huffmanDecode(bytes, 0, 0)).toBe('');
  });

  it('decodes random strings (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (octets) => {
        const s = Buffer.from(octets).toString('latin1');
        const padded = Buffer.concat([Buffer.from([1, 2, 3]), huffman(s), Buffer.from([4])]);
        expect(huffmanDecode(padded, 3, padded.length - 1)).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects EOS, padding over 7 bits and padding that is not all ones, with the offset', () => {
    // EOS is 30 ones: four 0xff bytes hold it whole.
    expect(() => huffmanDecode(hex('00 ff ff ff ff'), 1, 5)).toThrow(/contains the EOS symbol \(in byte 4\)/);
    expect(() => huffmanDecode(hex('1f ff ff ff ff'), 0, 5)).toThrow(HpackError);
    // 'a' is 00011: 00011|111 is valid, 00011|111 11111111 has 11 bits of padding.
    expect(huffmanDecode(hex('1f'), 0, 1)).toBe('a');
    expect(() => huffmanDecode(hex('1f ff'), 0, 2)).toThrow(/at byte 0 ends with more than 7 bits of padding \(at byte 1\)/);
    expect(() => huffmanDecode(hex('ff'), 0, 1)).toThrow(/more than 7 bits of padding/);
    // 00011|000: padding of zeros; 00011|110: padding with a zero in it.
    expect(() => huffmanDecode(hex('18'), 0, 1)).toThrow(/padding that is not a prefix of EOS/);
    expect(() => huffmanDecode(hex('1e'), 0, 1)).toThrow(/padding that is not a prefix of EOS/);
    // A string cut inside a code: the first 16 of the 28 bits of 0x02 (fffffe2).
    expect(() => huffmanDecode(hex('ff fe'), 0, 2)).toThrow(/padding that is not a prefix of EOS/);
  });
});

describe('HpackDecoder: RFC 7541 Appendix C', () => {
  it('C.1 integers (C.1.1 and C.1.2 as the 5-bit prefix of a table size update)', () => {
    const decoder = new HpackDecoder();
    // C.1.1: 10 in a 5-bit prefix (the 3 high bits, 001, mark a size update).
    expect(decoder.decode(hex('2a'))).toEqual([]);
    expect(decoder.dynamicTable().maxSize).toBe(10);
    // C.1.2: 1337 = 31 + 26 + 10 * 128: 1f 9a 0a.
    expect(decoder.decode(hex('3f 9a 0a'))).toEqual([]);
    expect(decoder.dynamicTable().maxSize).toBe(1337);
    // C.1.3 uses an 8-bit prefix, which no HPACK representation has; 42 fits every prefix from
    // 6 bits up, so as an indexed field (7-bit prefix) it is one byte: static entry 42, if-range.
    expect(pairs(decoder.decode(hex('aa')))).toEqual([['if-range', '']]);
  });

  it('C.2.1 literal field with indexing', () => {
    runSteps(new HpackDecoder(), [
      {
        block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572',
        fields: [['custom-key', 'custom-header']],
        table: [['custom-key', 'custom-header']],
        size: 55,
      },
    ]);
  });

  it('C.2.2 literal field without indexing', () => {
    runSteps(new HpackDecoder(), [{ block: '040c 2f73 616d 706c 652f 7061 7468', fields: [[':path', '/sample/path']], table: [], size: 0 }]);
  });

  it('C.2.3 literal field never indexed', () => {
    runSteps(new HpackDecoder(), [{ block: '1008 7061 7373 776f 7264 0673 6563 7265 74', fields: [['password', 'secret']], table: [], size: 0 }]);
  });

  it('C.2.4 indexed field', () => {
    runSteps(new HpackDecoder(), [{ block: '82', fields: [[':method', 'GET']], table: [], size: 0 }]);
  });

  it('C.3 requests without Huffman coding', () => {
    runSteps(new HpackDecoder(), [
      { block: '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d', fields: REQUEST_1, table: REQUEST_TABLES[0]!, size: 57 },
      { block: '8286 84be 5808 6e6f 2d63 6163 6865', fields: REQUEST_2, table: REQUEST_TABLES[1]!, size: 110 },
      {
        block: '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
        fields: REQUEST_3,
        table: REQUEST_TABLES[2]!,
        size: 164,
      },
    ]);
  });

  it('C.4 requests with Huffman coding', () => {
    runSteps(new HpackDecoder(), [
      { block: '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff', fields: REQUEST_1, table: REQUEST_TABLES[0]!, size: 57 },
      { block: '8286 84be 5886 a8eb 1064 9cbf', fields: REQUEST_2, table: REQUEST_TABLES[1]!, size: 110 },
      { block: '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf', fields: REQUEST_3, table: REQUEST_TABLES[2]!, size: 164 },
    ]);
  });

  it('C.5 responses without Huffman coding (256-octet table, evictions)', () => {
    runSteps(new HpackDecoder(256), [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                6c65 2e63 6f6d`,
        fields: RESPONSE_1,
        table: RESPONSE_TABLES[0]!,
        size: 222,
      },
      { block: '4803 3330 37c1 c0bf', fields: RESPONSE_2, table: RESPONSE_TABLES[1]!, size: 222 },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                3d31`,
        fields: RESPONSE_3,
        table: RESPONSE_TABLES[2]!,
        size: 215,
      },
    ]);
  });

  it('C.6 responses with Huffman coding (256-octet table, evictions)', () => {
    runSteps(new HpackDecoder(256), [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        fields: RESPONSE_1,
        table: RESPONSE_TABLES[0]!,
        size: 222,
      },
      { block: '4883 640e ffc1 c0bf', fields: RESPONSE_2, table: RESPONSE_TABLES[1]!, size: 222 },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: RESPONSE_3,
        table: RESPONSE_TABLES[2]!,
        size: 215,
      },
    ]);
  });
});

describe('HpackDecoder: table and limits', () => {
  it('accepts several size updates at the start of a block and evicts to the new size', () => {
    const decoder = new HpackDecoder();
    decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
    decoder.decode(hex('8286 84be 5808 6e6f 2d63 6163 6865'));
    expect(decoder.dynamicTable().size).toBe(110);
    // 0 (clear), then 60: room for one of the two entries, but both are gone already.
    expect(pairs(decoder.decode(hex('20 3f 1d 82')))).toEqual([[':method', 'GET']]);
    expect(decoder.dynamicTable()).toEqual({ maxSize: 60, size: 0, fields: [] });
    // 4096 (the advertised maximum, 3f e1 1f) is allowed.
    decoder.decode(hex('3f e1 1f'));
    expect(decoder.dynamicTable().maxSize).toBe(4096);
  });

  it('evicts the oldest entries, and an entry larger than the table empties it', () => {
    const decoder = new HpackDecoder(100);
    decoder.decode(Buffer.from([0x40, ...literal('a'), ...literal('x'.repeat(30))])); // 63 octets
    decoder.decode(Buffer.from([0x40, ...literal('b'), ...literal('y'.repeat(5))])); // 38: 101 > 100
    expect(decoder.dynamicTable()).toEqual({ maxSize: 100, size: 38, fields: ['b', 'yyyyy'] });
    decoder.decode(Buffer.from([0x40, ...literal('c'), ...literal('z'.repeat(68))])); // 101 octets
    expect(decoder.dynamicTable()).toEqual({ maxSize: 100, size: 0, fields: [] });
    // The field itself is still decoded.
    expect(pairs(decoder.decode(Buffer.from([0x40, ...literal('c'), ...literal('z'.repeat(68))])))).toEqual([['c', 'z'.repeat(68)]]);
  });

  it('keeps entries in order through ring wrap-around and growth (model-checked)', () => {
    // Random literal-with-indexing inserts and indexed reads, against a plain array model.
    const op = fc.oneof(
      fc.record({ insert: fc.constant(true), name: octets(12), value: octets(60), huffman: fc.boolean() }),
      fc.record({ insert: fc.constant(false), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.constantFrom(0, 64, 256, 4096, 20000), fc.array(fc.array(op, { maxLength: 30 }), { maxLength: 20 }), (maxSize, blocks) => {
        const decoder = new HpackDecoder(maxSize);
        const model: Field[] = [];
        const size = (): number => model.reduce((n, [a, b]) => n + a.length + b.length + 32, 0);
        for (const ops of blocks) {
          const bytes: number[] = [];
          const expected: Field[] = [];
          for (const o of ops) {
            if (o.insert) {
              const { name, value } = o;
              bytes.push(0x40, ...literal(name, o.huffman), ...literal(value, o.huffman));
              expected.push([name, value]);
              model.unshift([name, value]);
              while (size() > maxSize) model.pop();
            } else if (model.length > 0) {
              const i = o.pick % model.length;
              bytes.push(...integer(62 + i, 7, 0x80));
              expected.push(model[i]!);
            }
          }
          expect(pairs(decoder.decode(Buffer.from(bytes)))).toEqual(expected);
          expect(pairs(decoder.dynamicTable().fields)).toEqual(model);
          expect(decoder.dynamicTable().size).toBe(size());
        }
      }),
      { numRuns: 300 },
    );
  });

  it('holds as many entries as a large table fits', () => {
    const decoder = new HpackDecoder(65_536);
    const inserts: number[] = [];
    const reads: number[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 1500; i++) inserts.push(0x40, ...literal(`k${i}`), 0x00); // 34 to 37 octets
    decoder.decode(Buffer.from(inserts));
    const { fields, size } = decoder.dynamicTable();
    expect(size).toBe(10 * 34 + 90 * 35 + 900 * 36 + 500 * 37);
    expect(fields.length).toBe(2 * 1500);
    for (let i = 0; i < 1500; i++) {
      reads.push(...integer(62 + i, 7, 0x80));
      expected.push(`k${1499 - i}`, '');
    }
    expect(decoder.decode(Buffer.from(reads))).toEqual(expected);
  });

  it('returns null over maxListBytes (list size: octets + 32 per field) but keeps the table in step', () => {
    const first = hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d');
    const second = hex('8286 84be 5808 6e6f 2d63 6163 6865');
    const decoder = new HpackDecoder();
    // C.3.1: 42 + 43 + 38 + 57 = 180 octets, exactly what the cap allows.
    expect(new HpackDecoder().decode(first, 180)).not.toBeNull();
    expect(decoder.decode(first, 179)).toBeNull();
    expect(pairs(decoder.dynamicTable().fields)).toEqual(REQUEST_TABLES[0]);
    // The next block refers to the entry the refused one added; it lists 233 octets.
    expect(pairs(decoder.decode(second, 233))).toEqual(REQUEST_2);
    const other = new HpackDecoder();
    other.decode(first);
    expect(other.decode(second, 232)).toBeNull();
    expect(decoder.decode(hex('82'), 42)).toEqual([':method', 'GET']);
    expect(new HpackDecoder().decode(hex('82'), 41)).toBeNull();
  });

  it('accepts a Uint8Array that is not a Buffer', () => {
    const bytes = hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff');
    const view = new Uint8Array(bytes.length + 2);
    view.set(bytes, 1);
    expect(pairs(new HpackDecoder().decode(view.subarray(1, 1 + bytes.length)))).toEqual(REQUEST_1);
  });

  it('rejects an invalid advertised table size', () => {
    expect(() => new HpackDecoder(-1)).toThrow(RangeError);
    expect(() => new HpackDecoder(1.5)).toThrow(RangeError);
    expect(() => new HpackDecoder(2 ** 31)).toThrow(RangeError);
  });
});

describe('HpackDecoder: malformed blocks are HpackErrors with the offset', () => {
  it('index 0', () => {
    expect(decodeError(hex('82 80')).message).toBe('indexed field at byte 1 has index 0');
  });

  it('index beyond the static and dynamic tables', () => {
    expect(decodeError(hex('be')).message).toBe('index 62 at byte 0 is beyond the table (61 static + 0 dynamic entries)');
    // As the name of a literal with incremental indexing: 0x40 | 62.
    expect(decodeError(hex('82 7e 01 61')).message).toMatch(/^index 62 at byte 1 is beyond the table/);
    // Never indexed, 4-bit prefix: 1f 30 = 15 + 48 = 63, with one dynamic entry.
    const decoder = new HpackDecoder();
    decoder.decode(hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
    expect(decodeError(hex('1f 30 01 61'), decoder).message).toBe('index 63 at byte 0 is beyond the table (61 static + 1 dynamic entries)');
  });

  it('a table size update above the advertised size', () => {
    // 4097 = 31 + 98 + 31 * 128: 3f e2 1f.
    expect(decodeError(hex('3f e2 1f')).message).toBe('dynamic table size update at byte 0 to 4097 exceeds the advertised 4096');
    expect(decodeError(hex('3f e2 01'), new HpackDecoder(256)).message).toMatch(/to 257 exceeds the advertised 256/);
  });

  it('a table size update after a field', () => {
    expect(decodeError(hex('20 82 20')).message).toBe('dynamic table size update at byte 2 follows a header field');
  });

  it('integers over 2^31-1 or with more than 5 continuation bytes', () => {
    // 2^31 - 1 is accepted as an integer (then fails as a string length), 2^31 is not.
    expect(decodeError(Buffer.from([0x00, ...integer(2 ** 31 - 1, 7)])).message).toBe(
      'string literal at byte 1 has length 2147483647, but only 0 bytes remain',
    );
    expect(decodeError(Buffer.from([0x00, ...integer(2 ** 31, 7)])).message).toBe('integer at byte 1 exceeds 2147483647');
    expect(decodeError(hex('ff ff ff ff ff 7f')).message).toBe('integer at byte 0 exceeds 2147483647');
    // Zero-valued continuation bytes are legal up to five, not beyond.
    expect(new HpackDecoder().decode(hex('3f 80 80 80 80 00'))).toEqual([]);
    expect(decodeError(hex('3f 80 80 80 80 80 00')).message).toBe('integer at byte 0 has more than 5 continuation bytes');
  });

  it('truncated integers and strings', () => {
    expect(decodeError(hex('ff')).message).toBe('integer at byte 0 is truncated by the end of the block');
    expect(decodeError(hex('82 ff 80')).message).toBe('integer at byte 1 is truncated by the end of the block');
    expect(decodeError(hex('00 05 61 62')).message).toBe('string literal at byte 1 has length 5, but only 2 bytes remain');
    expect(decodeError(hex('00 01 61 7f')).message).toBe('integer at byte 3 is truncated by the end of the block');
    expect(decodeError(hex('00')).message).toBe('string literal expected at byte 1, but the block ends there');
    expect(decodeError(hex('40 01 61')).message).toBe('string literal expected at byte 3, but the block ends there');
    expect(decodeError(hex('0f 10')).message).toBe('string literal expected at byte 2, but the block ends there');
  });

  it('bad Huffman strings inside a block', () => {
    expect(decodeError(hex('00 01 61 84 ff ff ff ff')).message).toBe('Huffman-coded string at byte 4 contains the EOS symbol (in byte 7)');
    expect(decodeError(hex('00 01 61 82 1f ff')).message).toBe('Huffman-coded string at byte 4 ends with more than 7 bits of padding (at byte 5)');
    expect(decodeError(hex('00 81 18 01 61')).message).toBe('Huffman-coded string at byte 2 ends with padding that is not a prefix of EOS (at byte 2)');
  });

  it('refuses further blocks after an error', () => {
    const decoder = new HpackDecoder();
    decodeError(hex('80'), decoder);
    expect(decodeError(hex('82'), decoder).message).toMatch(/unusable after an earlier error/);
  });

  it('random and mutated blocks throw nothing but HpackError, and end (property)', () => {
    const seeds = [
      hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'),
      hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
      hex('88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab'),
      hex('3f e1 1f 1008 7061 7373 776f 7264 0673 6563 7265 74'),
    ];
    const check = (decoder: HpackDecoder, block: Uint8Array): void => {
      try {
        const fields = decoder.decode(block);
        for (const s of fields ?? []) expect(typeof s).toBe('string');
      } catch (err) {
        if (!(err instanceof HpackError)) throw err;
      }
    };
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 80 }), { minLength: 1, maxLength: 5 }), (blocks) => {
        const decoder = new HpackDecoder();
        for (const block of blocks) check(decoder, block);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(), (seed, edits, cut) => {
        const block = Buffer.from(seeds[seed]!);
        for (const [at, byte] of edits) block[at % block.length] = byte;
        const decoder = new HpackDecoder();
        check(decoder, seeds[0]!);
        check(decoder, block.subarray(0, cut % (block.length + 1)));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('HpackEncoder', () => {
  const encoder = new HpackEncoder();

  it('uses the static table: indexed fields, indexed names, literal names', () => {
    expect(encoder.encode([':status', '200'])).toEqual(hex('88'));
    expect(encoder.encode([':status', '500', ':status', '418'])).toEqual(hex('8e 08 03 343138'));
    // content-type is static entry 31: 0000 1111 then 31 - 15 = 16.
    expect(encoder.encode(['content-type', 'application/grpc'])).toEqual(hex('0f 10 10 6170706c69636174696f6e2f67727063'));
    expect(encoder.encode(['grpc-status', '0'])).toEqual(hex('00 0b 677270632d737461747573 01 30'));
    expect(encoder.encode(['accept-charset', ''])).toEqual(hex('8f'));
    expect(encoder.encode([])).toEqual(Buffer.alloc(0));
  });

  it('writes latin1 octets and multi-byte lengths', () => {
    expect(encoder.encode(['x-custom', 'caf\u00e9'])).toEqual(hex('00 08 782d637573746f6d 04 636166e9'));
    const long = 'v'.repeat(1337);
    // 1337 = 127 + 58 + 9 * 128: 7f ba 09.
    expect(encoder.encode(['x', long]).subarray(0, 6)).toEqual(hex('00 01 78 7f ba 09'));
  });

  it('is deterministic', () => {
    const fields = [':status', '200', 'content-type', 'application/grpc', 'x-custom', 'caf\u00e9'];
    expect(encoder.encode(fields)).toEqual(new HpackEncoder().encode([...fields]));
  });

  it('round-trips through the decoder (property)', () => {
    const nameChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&\'*+^`|~');
    const valueChar = fc.integer({ min: 1, max: 255 }).filter((c) => c !== 0x0a && c !== 0x0d);
    const name = fc.oneof(
      fc.constantFrom(':status', 'content-type', 'accept-encoding', 'set-cookie', 'www-authenticate', 'grpc-status'),
      fc.array(nameChar, { minLength: 1, maxLength: 20 }).map((cs) => cs.join('')),
    );
    const value = fc.oneof(
      fc.constantFrom('', '200', '404', 'gzip, deflate'),
      fc
        .array(valueChar, { maxLength: 300 })
        .map((cs) => String.fromCharCode(...cs))
        .filter((v) => !/^[ \t]|[ \t]$/.test(v)),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 12 }), (list) => {
        // Pseudo-headers first.
        const sorted = [...list].sort((a, b) => Number(b[0].startsWith(':')) - Number(a[0].startsWith(':')));
        const flat = sorted.flat();
        const decoder = new HpackDecoder();
        expect(decoder.decode(encoder.encode(flat))).toEqual(flat);
        expect(decoder.dynamicTable().size).toBe(0);
      }),
      { numRuns: 500 },
    );
  });

  it('rejects fields HTTP/2 forbids, without echoing the value', () => {
    const error = (fields: string[]): string => {
      try {
        encoder.encode(fields);
      } catch (err) {
        expect(err).toBeInstanceOf(HpackError);
        return (err as Error).message;
      }
      throw new Error('encoded without error');
    };
    expect(error(['Content-Type', 'x'])).toBe('field name "Content-Type" has a forbidden character at 0 (U+0043)');
    expect(error(['', 'x'])).toBe('field name "" is empty');
    expect(error([':', 'x'])).toBe('field name ":" is empty');
    expect(error(['a:b', 'x'])).toMatch(/forbidden character at 1 \(U\+003A\)/);
    expect(error(['a b', 'x'])).toMatch(/forbidden character at 1 \(U\+0020\)/);
    expect(error(['caf\u00e9', 'x'])).toMatch(/forbidden character at 3 \(U\+00E9\)/);
    expect(error(['x-token', 'secret\r\nx-injected: 1'])).toBe('value of field "x-token" has a forbidden character at 6 (U+000D)');
    expect(error(['x-token', 'secret\u010a'])).toBe('value of field "x-token" has a forbidden character at 6 (U+010A)');
    expect(error(['x-token', 'a\u0000'])).toMatch(/U\+0000/);
    expect(error(['x-token', ' secret'])).toBe('value of field "x-token" starts or ends with whitespace');
    expect(error(['x-token', 'secret\t'])).toMatch(/starts or ends with whitespace/);
    expect(error(['x-a', '1', ':status', '200'])).toBe('pseudo-header field ":status" follows a regular field');
    expect(error([':status'])).toBe('header list has an odd number of entries (1)');
  });
});

// --- Real peers: node:http2 (nghttp2) on a raw socket that speaks just enough HTTP/2. ---

const PREFACE = CLIENT_PREFACE.toString('latin1');
const { SETTINGS, HEADERS, CONTINUATION } = FrameType;
const { END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY } = Flag;

function frame(type: number, flags: number, streamId: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly block: Buffer;
  /** HEADERS plus CONTINUATIONs. */
  readonly frames: number;
}

/**
 * A raw HTTP/2 server side: checks the preface, sends empty SETTINGS, ACKs the client's, and
 * reassembles header blocks (HEADERS padding and priority removed, CONTINUATIONs joined).
 */
async function rawServer(onBlock: (socket: Socket, block: HeaderBlock) => void): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.write(frame(SETTINGS, 0, 0));
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    let pending: { streamId: number; endStream: boolean; parts: Buffer[] } | null = null;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!prefaceSeen) {
        if (buf.length < PREFACE.length) return;
        expect(buf.subarray(0, PREFACE.length).toString('latin1')).toBe(PREFACE);
        buf = buf.subarray(PREFACE.length);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const length = buf.readUIntBE(0, 3);
        if (buf.length < 9 + length) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const streamId = buf.readUInt32BE(5) & 0x7fffffff;
        let payload = buf.subarray(9, 9 + length);
        buf = buf.subarray(9 + length);
        if (type === SETTINGS && (flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
        if (type === HEADERS) {
          if (flags & PADDED) payload = payload.subarray(1, payload.length - payload[0]!);
          if (flags & PRIORITY) payload = payload.subarray(5);
          pending = { streamId, endStream: (flags & END_STREAM) !== 0, parts: [] };
        }
        if (type === HEADERS || type === CONTINUATION) {
          expect(pending?.streamId).toBe(streamId);
          pending!.parts.push(Buffer.from(payload));
          if (flags & END_HEADERS) {
            onBlock(socket, { streamId, endStream: pending!.endStream, block: Buffer.concat(pending!.parts), frames: pending!.parts.length });
            pending = null;
          }
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

async function closeAll(client: http2.ClientHttp2Session, server: Server, sockets: Set<Socket>): Promise<void> {
  client.destroy();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** A flat field list from node:http2 request headers, in the order given (arrays expanded). */
function flatten(headers: Record<string, string | string[]>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) out.push(name, v);
  }
  return out;
}

describe('interop with node:http2 (nghttp2)', () => {
  it('decodes the request blocks nghttp2 encodes: Huffman, dynamic table, never indexed, CONTINUATION', async () => {
    const blocks: HeaderBlock[] = [];
    let allReceived: () => void = () => {};
    const received = new Promise<void>((resolve) => (allReceived = resolve));
    const { server, port, sockets } = await rawServer((_socket, block) => {
      blocks.push(block);
      if (blocks.length === requests.length) allReceived();
    });
    const authority = `127.0.0.1:${port}`;
    const base = { ':method': 'GET', ':scheme': 'http', ':authority': authority };
    const fill: Record<string, string> = {};
    for (let i = 0; i < 40; i++) fill[`x-fill-${i}`] = `value ${i} `.repeat(12).trim();
    const requests: Array<Record<string, string | string[]>> = [
      { ...base, ':path': '/first', 'user-agent': 'grpc-node-js/1.14', 'x-multi': ['one', 'two', 'three'], 'x-latin': 'caf\u00e9 \u00ff\u0080' },
      { ...base, ':path': '/second', 'user-agent': 'grpc-node-js/1.14', 'x-multi': ['one', 'two', 'three'], 'x-latin': 'caf\u00e9 \u00ff\u0080' },
      { ...base, ':path': '/secret', authorization: 'Bearer abc.def.ghi', 'x-multi': 'one' },
      { ...base, ':path': '/big', 'x-big': 'b'.repeat(5000), 'x-after': 'after' },
      { ...base, ':method': 'POST', ':path': '/fill', ...fill },
      { ...base, ':path': '/huge', 'x-huge': 'h'.repeat(30_000), 'x-multi': 'one' },
      { ...base, ':path': '/first', 'user-agent': 'grpc-node-js/1.14', 'x-multi': ['one', 'two', 'three'], 'x-latin': 'caf\u00e9 \u00ff\u0080' },
    ];
    const client = http2.connect(`http://${authority}`);
    client.on('error', () => {});
    try {
      for (const headers of requests) {
        const sensitive = headers.authorization === undefined ? {} : { [http2.sensitiveHeaders]: ['authorization'] };
        client.request({ ...headers, ...sensitive }, { endStream: true }).on('error', () => {});
      }
      await received;
      const decoder = new HpackDecoder();
      for (const [i, { block, endStream }] of blocks.entries()) {
        expect(endStream).toBe(true);
        expect(decoder.decode(block), `request ${i}`).toEqual(flatten(requests[i]!));
      }
      // What the blocks exercised: dynamic table indexes (request 1 repeats most of request 0
      // as one-byte indexes), Huffman (the 5000-octet value takes fewer bytes), never-indexed
      // authorization (static name 23: 0001 1111, then 23 - 15), CONTINUATION, and evictions
      // (the 40 fill fields overflow 4096 octets).
      expect(blocks[1]!.block.length).toBeLessThan(blocks[0]!.block.length / 3);
      expect(blocks[3]!.block.length).toBeLessThan(5000);
      expect(blocks[2]!.block.includes(Buffer.from([0x1f, 0x08]))).toBe(true);
      expect(blocks[5]!.frames).toBe(2);
      expect(decoder.dynamicTable().size).toBeGreaterThan(3000);
      expect(decoder.dynamicTable().fields).not.toContain('x-fill-0');
    } finally {
      await closeAll(client, server, sockets);
    }
  });

  it('node:http2 decodes our response headers and trailers', async () => {
    const encoder = new HpackEncoder();
    const headers = encoder.encode([':status', '200', 'content-type', 'application/grpc', 'x-custom', 'caf\u00e9']);
    const trailers = encoder.encode(['grpc-status', '0', 'grpc-message', 'all good']);
    const { server, port, sockets } = await rawServer((socket, { streamId, endStream }) => {
      if (!endStream) return;
      socket.write(frame(HEADERS, END_HEADERS, streamId, headers));
      socket.write(frame(HEADERS, END_HEADERS | END_STREAM, streamId, trailers));
    });
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => {});
    try {
      const req = client.request({ ':method': 'POST', ':path': '/test.Echo/Unary' }, { endStream: true });
      const [response, responseTrailers] = await Promise.all([
        new Promise<http2.IncomingHttpHeaders>((resolve, reject) => req.on('response', resolve).on('error', reject)),
        new Promise<http2.IncomingHttpHeaders>((resolve, reject) => req.on('trailers', resolve).on('error', reject)),
        new Promise<void>((resolve) => req.on('close', resolve).resume()),
      ]);
      expect(Object.fromEntries(Object.entries(response))).toEqual({ ':status': 200, 'content-type': 'application/grpc', 'x-custom': 'caf\u00e9' });
      expect(Object.fromEntries(Object.entries(responseTrailers))).toEqual({ 'grpc-status': '0', 'grpc-message': 'all good' });
    } finally {
      await closeAll(client, server, sockets);
    }
  });
});
