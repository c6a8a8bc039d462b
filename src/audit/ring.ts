/**
 * A single-producer, single-consumer ring of values in a SharedArrayBuffer: how the serving
 * thread hands audit entries to the audit thread (src/audit/thread.ts) for the price of copying
 * their strings' code units, with no serialising, allocation or message per entry.
 *
 * Values are what decision rows and encoded events are made of: undefined, null, booleans,
 * numbers, strings and arrays of them. Each entry is written to a private scratch area first
 * (its length is known only then) and copied into the ring in one piece, behind a two-unit
 * length; an entry that does not fit before the end leaves a wrap mark and starts again at 0.
 * Entries become visible to the consumer only at `publish()` (one atomic store per event-loop
 * turn, not per entry).
 *
 * A string equal to the one at the same string slot of the entry before (most of a decision
 * row: policy names, host, agent, path) is written as one unit, and the consumer reuses its
 * string: no copy on either side, no new string on the consumer's.
 */

/** Header slots (Int32): the producer's published end, the consumer's start, whether the consumer sleeps. */
const WRITE = 0;
const READ = 1;
const SLEEPING = 2;
/** Set by a consumer that starts on a ring already written to: the producer's next entry names no earlier one. */
const RESYNC = 3;
const HEADER_BYTES = 16;

/** Entries published before a sleeping consumer is woken (see publish). */
const WAKE_AFTER = 256;

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

/** Length unit pair that marks "the rest of the ring is unused: go to 0". */
const WRAP = 0xffff;

/** Atomics.waitAsync (Node 16+), which TypeScript's ES2022 library does not declare. */
interface WaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

export type RingValue = undefined | null | boolean | number | string | readonly RingValue[];

/** A SharedArrayBuffer of `bytes` (rounded down to whole units) for a ring. */
export function ringBuffer(bytes: number): SharedArrayBuffer {
  const units = Math.max(1024, Math.floor((bytes - HEADER_BYTES) / 2));
  return new SharedArrayBuffer(HEADER_BYTES + units * 2);
}

/** Why a value could not be written. */
export class RingValueError extends Error {}

export class RingWriter {
  private readonly header: Int32Array;
  private readonly data: Uint16Array;
  /** Where the next entry goes (published at `publish`). */
  private end: number;
  private scratch = new Uint16Array(16 * 1024);
  private sinceWake = 0;
  /** The strings of the last entry written, by slot, and of the one being encoded. */
  private prev = new Slots();
  private cur = new Slots();
  private used = 0;
  private readonly num = new Float64Array(1);
  private readonly numUnits = new Uint16Array(this.num.buffer);

  constructor(buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.data = new Uint16Array(buffer, HEADER_BYTES);
    this.end = Atomics.load(this.header, WRITE);
  }

  /**
   * Appends one entry; false when the ring has no room for it now (the consumer is behind).
   * Throws RingValueError for a value of another type (a function, an object, a symbol).
   */
  write(value: RingValue): boolean {
    this.begin();
    this.value(value);
    return this.commit();
  }

  /** Starts an entry written piece by piece (primitive, list), then `commit`. */
  begin(): void {
    if (Atomics.load(this.header, RESYNC) === 1) {
      this.prev.count = 0;
      Atomics.store(this.header, RESYNC, 0);
    }
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
    s[i + 1] = n & 0xffff;
    s[i + 2] = n >>> 16;
    this.used = i + 3;
  }

  /** Copies the entry begun into the ring; false when it has no room for it now. Throws RingValueError for one larger than the ring. */
  commit(): boolean {
    const n = this.used;
    const cap = this.data.length;
    if (n + 3 > cap) throw new RingValueError(`an audit entry of ${n} units does not fit a ring of ${cap}`);
    const start = Atomics.load(this.header, READ);
    let at = this.end;
    // Free units: up to `start` (exclusive of one unit, so that full and empty differ).
    if (at >= start) {
      if (at + 2 + n > cap) {
        // Not before the end: wrap, if it fits at the front.
        if (2 + n >= start) return false;
        if (at + 2 <= cap) {
          this.data[at] = WRAP;
          this.data[at + 1] = WRAP;
        }
        at = 0;
      }
    } else if (at + 2 + n >= start) return false;
    this.data[at] = n & 0xffff;
    this.data[at + 1] = n >>> 16;
    this.data.set(n === this.scratch.length ? this.scratch : this.scratch.subarray(0, n), at + 2);
    this.end = at + 2 + n;
    this.sinceWake++;
    const last = this.prev;
    this.prev = this.cur;
    this.cur = last;
    return true;
  }

  /**
   * Makes every entry written so far visible. A sleeping consumer is woken when `wake` is set or
   * WAKE_AFTER entries wait: waking is a system call on both sides, and a consumer that sleeps
   * with a timeout (waitForMore) comes back by itself soon enough for the rest.
   */
  publish(wake = false): void {
    Atomics.store(this.header, WRITE, this.end);
    if (this.sinceWake < WAKE_AFTER && !wake) return;
    if (Atomics.load(this.header, SLEEPING) === 1) {
      Atomics.notify(this.header, WRITE);
      this.sinceWake = 0;
    }
  }

  /** The next entry names no string of an earlier one (its reader was replaced). */
  resync(): void {
    this.prev.count = 0;
  }

  /** Grows the scratch area to hold `n` more units. */
  private room(n: number): void {
    let size = this.scratch.length * 2;
    while (size < this.used + n) size *= 2;
    if (size > this.data.length) throw new RingValueError(`an audit entry of more than ${this.data.length} units does not fit the ring`);
    const next = new Uint16Array(size);
    next.set(this.scratch.subarray(0, this.used));
    this.scratch = next;
  }

  private value(v: RingValue): void {
    if (typeof v === 'string') {
      this.string(v);
      return;
    }
    if (this.used + 5 > this.scratch.length) this.room(5);
    const s = this.scratch;
    const i = this.used;
    if (Array.isArray(v)) {
      this.list(v.length);
      for (let k = 0; k < v.length; k++) this.value(v[k] as RingValue);
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
    } else throw new RingValueError(`an audit entry holds a ${typeof v}, which the ring does not carry`);
  }

  private string(v: string): void {
    const cur = this.cur;
    const slot = cur.count;
    cur.items[slot] = v;
    cur.count = slot + 1;
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
    s[i + 1] = len & 0xffff;
    s[i + 2] = len >>> 16;
    i += 3;
    for (let k = 0; k < len; k++) s[i + k] = v.charCodeAt(k);
    this.used = i + len;
  }
}

export class RingReader {
  private readonly header: Int32Array;
  private readonly data: Uint16Array;
  private at: number;
  private prev = new Slots();
  private cur = new Slots();
  /** Whether `prev` holds the entry before the next one (false at first, and after an entry that could not be read). */
  private prevKnown = false;
  private readonly num = new Float64Array(1);
  private readonly numUnits = new Uint16Array(this.num.buffer);

  constructor(buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.data = new Uint16Array(buffer, HEADER_BYTES);
    this.at = Atomics.load(this.header, READ);
    // The writer's next entry may name strings of an entry this reader never saw (one an earlier reader read).
    Atomics.store(this.header, RESYNC, 1);
  }

  /**
   * The next published entry, or undefined when there is none (the slot it took is freed at
   * once). Throws RingValueError for an entry that cannot be read (it is skipped): one that
   * names a string of an entry this reader did not read (it started after a reader that died).
   */
  next(): { value: RingValue } | undefined {
    const end = Atomics.load(this.header, WRITE);
    if (this.at === end) return undefined;
    let at = this.at;
    const cap = this.data.length;
    if (at + 2 > cap || (this.data[at] === WRAP && this.data[at + 1] === WRAP)) at = 0;
    const n = (this.data[at] as number) | ((this.data[at + 1] as number) << 16);
    const cursor = { at: at + 2 };
    this.at = at + 2 + n;
    this.cur.count = 0;
    let value: RingValue;
    try {
      value = this.value(cursor);
      if (cursor.at !== this.at) throw new RingValueError(`audit ring entry at ${at} is ${n} units long but holds ${cursor.at - at - 2}`);
    } catch (err) {
      this.prevKnown = false;
      throw err;
    } finally {
      Atomics.store(this.header, READ, this.at);
    }
    const last = this.prev;
    this.prev = this.cur;
    this.cur = last;
    this.prevKnown = true;
    return { value };
  }

  /** Resolves when the producer publishes past where this reader is (at once if it already has). */
  async waitForMore(timeoutMs: number): Promise<void> {
    Atomics.store(this.header, SLEEPING, 1);
    const seen = this.at;
    if (Atomics.load(this.header, WRITE) === seen) {
      const w = (Atomics as unknown as WaitAsync).waitAsync(this.header, WRITE, seen, timeoutMs);
      if (w.async) await w.value;
    }
    Atomics.store(this.header, SLEEPING, 0);
  }

  private value(c: { at: number }): RingValue {
    const d = this.data;
    const tag = d[c.at++];
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
        u[0] = d[c.at] as number;
        u[1] = d[c.at + 1] as number;
        u[2] = d[c.at + 2] as number;
        u[3] = d[c.at + 3] as number;
        c.at += 4;
        return this.num[0];
      }
      case STRING: {
        const len = (d[c.at] as number) | ((d[c.at + 1] as number) << 16);
        const from = c.at + 2;
        c.at = from + len;
        const s = text(d, from, from + len);
        this.cur.push(s);
        return s;
      }
      case SAME: {
        const slot = this.cur.count;
        if (!this.prevKnown || slot >= this.prev.count) throw new RingValueError('audit ring entry names a string of an entry this reader did not read');
        const s = this.prev.items[slot] as string;
        this.cur.push(s);
        return s;
      }
      case ARRAY: {
        const len = (d[c.at] as number) | ((d[c.at + 1] as number) << 16);
        c.at += 2;
        const out: RingValue[] = new Array<RingValue>(len);
        for (let k = 0; k < len; k++) out[k] = this.value(c);
        return out;
      }
      default:
        throw new RingValueError(`audit ring: unknown value tag ${String(tag)} at ${c.at - 1}`);
    }
  }
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
