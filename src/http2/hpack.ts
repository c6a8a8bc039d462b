import { HpackError } from './hpack-error.js';
import { huffmanDecode } from './huffman.js';

export { HpackError };

/**
 * HPACK (RFC 7541) for our HTTP/2 server: a decoder for the header blocks clients send and a
 * table-free encoder for the headers and trailers we send.
 *
 * Names and values are strings with one char per octet (latin1): HTTP/2 field values are
 * octets, not text. The decoder does not check field syntax (uppercase names, CR/LF in
 * values); the HTTP/2 layer does that for what it receives (request-headers.ts).
 */


/** Appendix A. Index 0 is unused so that a static index addresses these arrays directly. */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];
const STATIC_COUNT = 61;
const STATIC_NAMES = STATIC_TABLE.map(([name]) => name);
const STATIC_VALUES = STATIC_TABLE.map(([, value]) => value);
/** Name → its first static index; entries sharing a name are adjacent. */
const STATIC_NAME_INDEX = new Map<string, number>();
for (let i = STATIC_COUNT; i >= 1; i--) STATIC_NAME_INDEX.set(STATIC_NAMES[i]!, i);

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;
/** Larger integers are rejected: no legitimate index, length or table size comes near. */
const MAX_INTEGER = 0x7fffffff;
/** 5 continuation bytes carry 35 bits, enough for MAX_INTEGER after any prefix. */
const MAX_CONTINUATION_BYTES = 5;

/** A snapshot of the dynamic table, for tests and diagnostics. */
export interface DynamicTable {
  /** The maximum size the peer's encoder last set (initially the advertised limit). */
  readonly maxSize: number;
  /** Sum of the entry sizes, in octets. */
  readonly size: number;
  /** Flat `[name, value, ...]`, newest entry (index 62) first. */
  readonly fields: string[];
}

/**
 * Decodes the header blocks of one connection, in the order they arrive: the dynamic table
 * carries state from block to block. A block decodes fully or throws HpackError; after an
 * error the table is out of step with the peer's encoder, so the connection must be closed
 * (COMPRESSION_ERROR) and this decoder refuses further blocks.
 */
export class HpackDecoder {
  private maxSize: number;
  private size = 0;
  // The dynamic table is a ring: entry i (0 = newest) sits at (head + i) & mask. Capacity is
  // a power of two that grows on demand (entries are ≥ 32 octets, so it stays ≤ maxSize / 32).
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  private head = 0;
  private count = 0;
  /** Read position in the block being decoded. */
  private pos = 0;
  private failed = false;

  /** `maxTableSize`: the SETTINGS_HEADER_TABLE_SIZE we advertise (HTTP/2's default is 4096). */
  constructor(private readonly maxTableSize = 4096) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER) {
      throw new RangeError(`HPACK table size must be an integer in [0, ${MAX_INTEGER}], got ${maxTableSize}`);
    }
    this.maxSize = maxTableSize;
  }

  /**
   * Decodes one complete header block (HEADERS plus any CONTINUATION payloads, joined).
   * Returns the fields in order as a flat `[name0, value0, name1, value1, ...]`, or null when
   * their list size exceeds `maxListBytes`: the block is still decoded to keep the table in
   * step, so the caller can refuse just that stream (431).
   */
  decode(block: Uint8Array, maxListBytes = Infinity): string[] | null {
    if (this.failed) throw new HpackError('decoder is unusable after an earlier error: the connection must be closed');
    this.failed = true;
    const buf = block instanceof Buffer ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    const end = buf.length;
    let fields: string[] | null = [];
    let listBytes = 0;
    let fieldSeen = false;
    this.pos = 0;
    while (this.pos < end) {
      const at = this.pos;
      const first = buf[at]!;
      let name: string;
      let value: string;
      if (first >= 0x80) {
        // §6.1 indexed field
        const index = this.integer(buf, 7);
        if (index === 0) throw new HpackError(`indexed field at byte ${at} has index 0`);
        if (index <= STATIC_COUNT) {
          name = STATIC_NAMES[index]!;
          value = STATIC_VALUES[index]!;
        } else {
          const slot = this.slot(index, at);
          name = this.names[slot]!;
          value = this.values[slot]!;
        }
      } else if (first >= 0x40) {
        // §6.2.1 literal with incremental indexing
        name = this.name(buf, 6, at);
        value = this.string(buf);
        this.insert(name, value);
      } else if (first >= 0x20) {
        // §6.3 dynamic table size update; §4.2: only at the start of a block
        if (fieldSeen) throw new HpackError(`dynamic table size update at byte ${at} follows a header field`);
        const size = this.integer(buf, 5);
        if (size > this.maxTableSize) {
          throw new HpackError(`dynamic table size update at byte ${at} to ${size} exceeds the advertised ${this.maxTableSize}`);
        }
        this.maxSize = size;
        this.evictTo(size);
        continue;
      } else {
        // §6.2.2 without indexing (0000) and §6.2.3 never indexed (0001): the same to a decoder
        name = this.name(buf, 4, at);
        value = this.string(buf);
      }
      fieldSeen = true;
      listBytes += name.length + value.length + ENTRY_OVERHEAD;
      if (fields !== null) {
        if (listBytes > maxListBytes) fields = null;
        else fields.push(name, value);
      }
    }
    this.failed = false;
    return fields;
  }

  /** A copy of the dynamic table's state. */
  dynamicTable(): DynamicTable {
    const fields: string[] = [];
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      fields.push(this.names[slot]!, this.values[slot]!);
    }
    return { maxSize: this.maxSize, size: this.size, fields };
  }

  /** §5.1 integer with an N-bit prefix, starting at `pos` (which the caller has checked). */
  private integer(buf: Buffer, prefixBits: number): number {
    const at = this.pos;
    const prefixMax = (1 << prefixBits) - 1;
    let value = buf[this.pos++]! & prefixMax;
    if (value < prefixMax) return value;
    let multiplier = 1;
    for (let n = 1; ; n++) {
      if (n > MAX_CONTINUATION_BYTES) throw new HpackError(`integer at byte ${at} has more than ${MAX_CONTINUATION_BYTES} continuation bytes`);
      if (this.pos >= buf.length) throw new HpackError(`integer at byte ${at} is truncated by the end of the block`);
      const byte = buf[this.pos++]!;
      value += (byte & 0x7f) * multiplier;
      if (value > MAX_INTEGER) throw new HpackError(`integer at byte ${at} exceeds ${MAX_INTEGER}`);
      if (byte < 0x80) return value;
      multiplier *= 128;
    }
  }

  /** §5.2 string literal: a length with the Huffman flag, then the octets. */
  private string(buf: Buffer): string {
    const at = this.pos;
    if (at >= buf.length) throw new HpackError(`string literal expected at byte ${at}, but the block ends there`);
    const huffman = buf[at]! >= 0x80;
    const length = this.integer(buf, 7);
    const start = this.pos;
    if (length > buf.length - start) {
      throw new HpackError(`string literal at byte ${at} has length ${length}, but only ${buf.length - start} bytes remain`);
    }
    this.pos = start + length;
    return huffman ? huffmanDecode(buf, start, this.pos) : buf.toString('latin1', start, this.pos);
  }

  /** The name of a literal field: an index (non-zero) into either table, or a string literal. */
  private name(buf: Buffer, prefixBits: number, at: number): string {
    const index = this.integer(buf, prefixBits);
    if (index === 0) return this.string(buf);
    if (index <= STATIC_COUNT) return STATIC_NAMES[index]!;
    return this.names[this.slot(index, at)]!;
  }

  /** The ring slot of dynamic table index `index` (> 61). */
  private slot(index: number, at: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.count) {
      throw new HpackError(`index ${index} at byte ${at} is beyond the table (${STATIC_COUNT} static + ${this.count} dynamic entries)`);
    }
    return (this.head + i) & this.mask;
  }

  /** §4.4: evict to make room; an entry larger than the table empties it and is not added. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxSize - size);
    if (this.count === this.names.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += size;
  }

  private evictTo(maxSize: number): void {
    while (this.size > maxSize) {
      const slot = (this.head + this.count - 1) & this.mask;
      this.size -= this.names[slot]!.length + this.values[slot]!.length + ENTRY_OVERHEAD;
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }

  private grow(): void {
    const capacity = this.names.length * 2;
    const names = new Array<string>(capacity).fill('');
    const values = new Array<string>(capacity).fill('');
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = capacity - 1;
    this.head = 0;
  }
}

/**
 * Encodes our response headers and trailers without the dynamic table or Huffman coding, so
 * it needs no state and ignores the peer's SETTINGS_HEADER_TABLE_SIZE: a static-table match is
 * one indexed byte (`:status: 200` → 0x88), a static name match an indexed-name literal, the
 * rest literals without indexing. Output depends only on the input, so a constant header list
 * can be encoded once and the block reused.
 */
export class HpackEncoder {
  /**
   * Encodes a flat `[name0, value0, name1, value1, ...]` list (the decoder's shape, so names
   * may repeat). Names must be lower case, pseudo-headers first; names and values must be
   * valid HTTP/2 fields (RFC 9113 §8.2.1, §8.3) made of octets (chars up to U+00FF), else
   * HpackError.
   */
  encode(fields: readonly string[]): Buffer {
    if (fields.length % 2 !== 0) throw new HpackError(`header list has an odd number of entries (${fields.length})`);
    // Upper bound: a field's octets plus its first byte and two lengths of up to 6 bytes each.
    let bound = 0;
    for (let i = 0; i < fields.length; i += 2) bound += fields[i]!.length + fields[i + 1]!.length + 13;
    const out = Buffer.allocUnsafe(bound);
    let pos = 0;
    let regularSeen = false;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      const pseudo = name.charCodeAt(0) === 0x3a;
      if (pseudo && regularSeen) throw new HpackError(`pseudo-header field ${JSON.stringify(name)} follows a regular field`);
      regularSeen ||= !pseudo;
      checkName(name, pseudo);
      checkValue(name, value);
      const first = STATIC_NAME_INDEX.get(name);
      if (first === undefined) {
        out[pos++] = 0x00;
        pos = writeString(out, pos, name);
      } else {
        let exact = 0;
        for (let j = first; j <= STATIC_COUNT && STATIC_NAMES[j] === name; j++) {
          if (STATIC_VALUES[j] === value) {
            exact = j;
            break;
          }
        }
        if (exact !== 0) {
          pos = writeInteger(out, pos, 0x80, 7, exact);
          continue;
        }
        pos = writeInteger(out, pos, 0x00, 4, first);
      }
      pos = writeString(out, pos, value);
    }
    return out.subarray(0, pos);
  }
}

function writeInteger(out: Buffer, pos: number, flags: number, prefixBits: number, value: number): number {
  const prefixMax = (1 << prefixBits) - 1;
  if (value < prefixMax) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | prefixMax;
  value -= prefixMax;
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

function writeString(out: Buffer, pos: number, s: string): number {
  pos = writeInteger(out, pos, 0x00, 7, s.length);
  return pos + out.write(s, pos, 'latin1');
}

// Errors name the field but never show its value: values may be secrets.
function checkName(name: string, pseudo: boolean): void {
  if (name.length === (pseudo ? 1 : 0)) throw new HpackError(`field name ${JSON.stringify(name)} is empty`);
  for (let i = pseudo ? 1 : 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || c === 0x3a) {
      throw new HpackError(`field name ${JSON.stringify(name)} has a forbidden character at ${i} (U+${hex4(c)})`);
    }
  }
}

function checkValue(name: string, value: string): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d || c > 0xff) {
      throw new HpackError(`value of field ${JSON.stringify(name)} has a forbidden character at ${i} (U+${hex4(c)})`);
    }
  }
  if (isBlank(value.charCodeAt(0)) || isBlank(value.charCodeAt(value.length - 1))) {
    throw new HpackError(`value of field ${JSON.stringify(name)} starts or ends with whitespace`);
  }
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

function hex4(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}
