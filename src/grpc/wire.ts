/**
 * Protocol Buffers wire format, just what the hot-path codecs need: a bounds-checked reader
 * over one message's bytes and a writer that reuses one growing buffer. Field numbers come
 * from generated files (src/envoy/codec/fields.generated.ts), never typed in by hand.
 * Encoding reference: https://protobuf.dev/programming-guides/encoding/
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** Bytes that are not a well-formed message of the expected type. */
export class WireError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} at byte ${offset}`);
    this.name = 'WireError';
  }
}

const SMALL_BUFFER = 16 * 1024;
const NON_ASCII = /[^\x00-\x7f]/;

/** Reads one message in `buf[pos, end)`; nested messages are read with a reader over their span. */
export class Reader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
    /** The whole buffer as latin1 text, made once and shared by the readers of nested messages; `ascii`: it holds no byte above 0x7f. */
    private readonly text: { latin1?: string; ascii?: boolean } = {},
  ) {
    this.pos = start;
  }

  more(): boolean {
    return this.pos < this.end;
  }

  /** A varint of up to 32 significant bits (tags, lengths, int32, uint32, enums), as an unsigned number. */
  uint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= this.end) throw new WireError('truncated varint', pos);
      const b = buf[pos++]!;
      if (shift < 28) result |= (b & 0x7f) << shift;
      else if (shift === 28) result += (b & 0x0f) * 0x10000000;
      // Bits above 32 are dropped, as int32/enum decoding does; a varint has at most 10 bytes.
      else if (shift > 63) throw new WireError('varint longer than 10 bytes', pos);
      if (b < 0x80) break;
      shift += 7;
    }
    this.pos = pos;
    return result >>> 0;
  }

  /** A length prefix, checked against the bytes left. */
  private length(): number {
    const len = this.uint32();
    if (len > this.end - this.pos) throw new WireError(`length ${len} runs past the end of the message`, this.pos);
    return len;
  }

  string(): string {
    const len = this.length();
    const start = this.pos;
    this.pos += len;
    // Small buffers are turned into text once (one native call, not one per field): a field
    // whose bytes are all ASCII is then a substring of it, the same text UTF-8 decoding gives.
    // A buffer that is ASCII throughout (the usual CheckRequest) is checked once, not per field.
    if (this.buf.length <= SMALL_BUFFER) {
      const text = this.text;
      if (text.latin1 === undefined) {
        text.latin1 = this.buf.toString('latin1');
        text.ascii = !NON_ASCII.test(text.latin1);
      }
      const s = text.latin1.slice(start, this.pos);
      if (text.ascii === true || !NON_ASCII.test(s)) return s;
    }
    return this.buf.toString('utf8', start, this.pos);
  }

  bytes(): Buffer {
    const len = this.length();
    const start = this.pos;
    this.pos += len;
    return this.buf.subarray(start, this.pos);
  }

  /** A reader over the next length-delimited field (a nested message). */
  message(): Reader {
    const len = this.length();
    const start = this.pos;
    this.pos += len;
    return new Reader(this.buf, start, this.pos, this.text);
  }

  /** Skips a field of the given wire type (fields the decision does not need). */
  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint32();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.advance(this.length());
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      default:
        // Groups (3, 4) are proto2-only and never appear in Envoy's proto3 messages.
        throw new WireError(`unsupported wire type ${wireType}`, this.pos);
    }
  }

  private advance(n: number): void {
    if (n > this.end - this.pos) throw new WireError('field runs past the end of the message', this.pos);
    this.pos += n;
  }
}

/** Throws unless a known field arrived with the wire type its declaration implies. */
export function expectWire(r: Reader, tag: number, expected: number): void {
  if ((tag & 7) !== expected) throw new WireError(`field ${tag >>> 3} has wire type ${tag & 7}, expected ${expected}`, r.pos);
}

/**
 * Writes messages into one reused buffer. Nested messages reserve one length byte and are
 * shifted if their length needs more, so a message is written in a single pass.
 */
export class Writer {
  private buf: Buffer;
  pos = 0;
  private readonly forks: number[] = [];

  constructor(initial = 4096) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  reset(): this {
    this.pos = 0;
    this.forks.length = 0;
    return this;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  varint(v: number): void {
    this.ensure(5);
    const buf = this.buf;
    let pos = this.pos;
    v >>>= 0;
    while (v > 0x7f) {
      buf[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[pos++] = v;
    this.pos = pos;
  }

  tag(field: number, wireType: number): void {
    this.varint((field << 3) | wireType);
  }

  /** A string field; empty strings are written too when asked (callers skip proto3 defaults). */
  string(field: number, value: string): void {
    const len = Buffer.byteLength(value, 'utf8');
    this.tag(field, WIRE_LEN);
    this.varint(len);
    this.ensure(len);
    this.pos += this.buf.write(value, this.pos, 'utf8');
  }

  uint32(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  bool(field: number, value: boolean): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value ? 1 : 0);
  }

  /** Starts a nested message in `field`; end it with `close()`. */
  open(field: number): void {
    this.tag(field, WIRE_LEN);
    this.ensure(1);
    this.forks.push(this.pos);
    this.pos += 1;
  }

  close(): void {
    const at = this.forks.pop();
    if (at === undefined) throw new Error('Writer.close() without open()');
    const len = this.pos - at - 1;
    let extra = 0;
    for (let v = len >>> 7; v > 0; v >>>= 7) extra++;
    if (extra > 0) {
      this.ensure(extra);
      this.buf.copyWithin(at + 1 + extra, at + 1, this.pos);
      this.pos += extra;
    }
    let v = len;
    let p = at;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p] = v;
  }

  /** Reserves `n` bytes at the current position (a frame header filled in later); returns where. */
  reserve(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  setUint32BE(at: number, value: number): void {
    this.buf.writeUInt32BE(value, at);
  }

  setByte(at: number, value: number): void {
    this.buf[at] = value;
  }

  /** A copy of what was written (the buffer is reused by the next message). */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }
}
