/**
 * The encoding of audit entries as they travel between threads (the shared ring,
 * src/audit/ring.ts) and from a `--workers` worker to the primary (its audit pipe,
 * src/cluster/audit-forward.ts): UTF-16 code units, native byte order, no serialising.
 *
 * Values are what decision rows and encoded events are made of: undefined, null, booleans,
 * numbers, strings and arrays of them, each a tag unit and its payload. A string equal to the
 * one at the same string slot of the entry before (most of a decision row: policy names, host,
 * agent, path) is written as one unit, and the decoder reuses its string: no copy on either
 * side, no new string on the decoder's. So entries must be decoded in the order they were
 * encoded, each once; a decoder that missed entries cannot read those that repeat their strings.
 */

/** Value tags. */
const UNDEFINED = 0;
const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const NUMBER = 4;
const STRING = 5;
const ARRAY = 6;
/** The string at the same place (the same string slot) in the entry before. */
const SAME = 7;

export type EntryValue = undefined | null | boolean | number | string | readonly EntryValue[];

/** Why a value could not be encoded or decoded. */
export class EntryValueError extends Error {}

/** Encodes one entry at a time into its own scratch area (`units`), piece by piece or whole. */
export class EntryEncoder {
  private scratch = new Uint16Array(16 * 1024);
  /** Units of the entry begun so far. */
  protected used = 0;
  /** The strings of the last entry taken, by slot, and of the one being encoded. */
  private prev = new Slots();
  private cur = new Slots();
  private readonly num = new Float64Array(1);
  private readonly numUnits = new Uint16Array(this.num.buffer);

  /** @param maxUnits the largest entry there is room for anywhere it goes. */
  constructor(private readonly maxUnits: number) {}

  /** Starts an entry written piece by piece (primitive, list, value). */
  begin(): void {
    this.used = 0;
    this.cur.count = 0;
  }

  primitive(v: string | number | boolean | null | undefined): void {
    if (typeof v === 'string') this.string(v);
    else this.value(v);
  }

  /** A list of `n` values, written next. */
  list(n: number): void {
    if (this.used + 3 > this.scratch.length) this.room(3);
    const s = this.scratch;
    const i = this.used;
    s[i] = ARRAY;
    lengthTo(s, i + 1, n);
    this.used = i + 3;
  }

  /** Throws EntryValueError for a value of another type (a function, an object, a symbol). */
  value(v: EntryValue): void {
    if (typeof v === 'string') {
      this.string(v);
      return;
    }
    if (this.used + 5 > this.scratch.length) this.room(5);
    const s = this.scratch;
    const i = this.used;
    if (Array.isArray(v)) {
      this.list(v.length);
      for (let k = 0; k < v.length; k++) this.value(v[k] as EntryValue);
    } else if (typeof v === 'number') {
      this.num[0] = v;
      const u = this.numUnits;
      s[i] = NUMBER;
      s[i + 1] = u[0] as number;
      s[i + 2] = u[1] as number;
      s[i + 3] = u[2] as number;
      s[i + 4] = u[3] as number;
      this.used = i + 5;
    } else if (v === undefined) {
      s[i] = UNDEFINED;
      this.used = i + 1;
    } else if (v === null) {
      s[i] = NULL;
      this.used = i + 1;
    } else if (typeof v === 'boolean') {
      s[i] = v ? TRUE : FALSE;
      this.used = i + 1;
    } else throw new EntryValueError(`an audit entry holds a ${typeof v}, which is not carried`);
  }

  /** The entry begun, as units (valid until the next `begin`). */
  units(): Uint16Array {
    return this.scratch.subarray(0, this.used);
  }

  /** The entry begun went out: the next may name its strings. */
  taken(): void {
    const last = this.prev;
    this.prev = this.cur;
    this.cur = last;
  }

  /** The next entry names no string of an earlier one (its decoder was replaced). */
  forget(): void {
    this.prev.count = 0;
  }

  /** Grows the scratch area to hold `n` more units. */
  private room(n: number): void {
    let size = this.scratch.length * 2;
    while (size < this.used + n) size *= 2;
    if (size > this.maxUnits) throw new EntryValueError(`an audit entry of more than ${this.maxUnits} units does not fit`);
    const next = new Uint16Array(size);
    next.set(this.scratch.subarray(0, this.used));
    this.scratch = next;
  }

  private string(v: string): void {
    const slot = this.cur.count;
    this.cur.push(v);
    const len = v.length;
    if (this.used + 3 + len > this.scratch.length) this.room(3 + len);
    const s = this.scratch;
    let i = this.used;
    if (slot < this.prev.count && this.prev.items[slot] === v) {
      s[i] = SAME;
      this.used = i + 1;
      return;
    }
    s[i] = STRING;
    lengthTo(s, i + 1, len);
    i += 3;
    for (let k = 0; k < len; k++) s[i + k] = v.charCodeAt(k);
    this.used = i + len;
  }
}

/** Decodes entries in the order they were encoded. */
export class EntryDecoder {
  private prev = new Slots();
  private cur = new Slots();
  /** Whether `prev` holds the entry before the next one (false at first, and after an entry that could not be read). */
  private prevKnown = false;
  private readonly num = new Float64Array(1);
  private readonly numUnits = new Uint16Array(this.num.buffer);
  private at = 0;

  /**
   * The entry in `d` from `from` to `to`. Throws EntryValueError for one that cannot be read:
   * malformed, or naming a string of an entry this decoder did not read.
   */
  decode(d: Uint16Array, from: number, to: number): EntryValue {
    this.at = from;
    this.cur.count = 0;
    let value: EntryValue;
    try {
      value = this.value(d, to);
      if (this.at !== to) throw new EntryValueError(`an audit entry is ${to - from} units long but holds ${this.at - from}`);
    } catch (err) {
      this.prevKnown = false;
      throw err;
    }
    const last = this.prev;
    this.prev = this.cur;
    this.cur = last;
    this.prevKnown = true;
    return value;
  }

  private value(d: Uint16Array, to: number): EntryValue {
    if (this.at >= to) throw new EntryValueError('an audit entry ends inside a value');
    const tag = d[this.at++];
    switch (tag) {
      case UNDEFINED:
        return undefined;
      case NULL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      case NUMBER: {
        const u = this.numUnits;
        const i = this.at;
        u[0] = d[i] as number;
        u[1] = d[i + 1] as number;
        u[2] = d[i + 2] as number;
        u[3] = d[i + 3] as number;
        this.at = i + 4;
        return this.num[0];
      }
      case STRING: {
        const len = lengthAt(d, this.at);
        const start = this.at + 2;
        this.at = start + len;
        if (this.at > to) throw new EntryValueError('an audit entry ends inside a string');
        const s = text(d, start, start + len);
        this.cur.push(s);
        return s;
      }
      case SAME: {
        const slot = this.cur.count;
        if (!this.prevKnown || slot >= this.prev.count) throw new EntryValueError('an audit entry names a string of an entry this reader did not read');
        const s = this.prev.items[slot] as string;
        this.cur.push(s);
        return s;
      }
      case ARRAY: {
        const len = lengthAt(d, this.at);
        this.at += 2;
        if (len > to - this.at) throw new EntryValueError(`an audit entry's list of ${len} is longer than what is left of it`);
        const out: EntryValue[] = new Array<EntryValue>(len);
        for (let k = 0; k < len; k++) out[k] = this.value(d, to);
        return out;
      }
      default:
        throw new EntryValueError(`unknown value tag ${String(tag)} at ${this.at - 1}`);
    }
  }
}

/** The length (a count of units or values) written as two units at `at`, as lengthTo writes it. */
export function lengthAt(d: Uint16Array, at: number): number {
  return (d[at] as number) + (d[at + 1] as number) * 0x10000;
}

/** Writes `n` (below 2^32) as two units at `at`. */
export function lengthTo(d: Uint16Array, at: number, n: number): void {
  d[at] = n & 0xffff;
  d[at + 1] = n >>> 16;
}

/** Strings by slot (their order in an entry); `count` in use, the rest stale. */
class Slots {
  items: string[] = [];
  count = 0;
  push(s: string): void {
    this.items[this.count++] = s;
  }
}

/** The code units from..to as a string (in chunks: fromCharCode's arguments are bounded). */
function text(d: Uint16Array, from: number, to: number): string {
  if (to - from <= 4096) return String.fromCharCode.apply(null, d.subarray(from, to) as unknown as number[]);
  let out = '';
  for (let i = from; i < to; i += 4096) out += String.fromCharCode.apply(null, d.subarray(i, Math.min(to, i + 4096)) as unknown as number[]);
  return out;
}
