import { EntryDecoder, EntryEncoder, EntryValueError, lengthAt, lengthTo, type EntryValue } from './entry-codec.js';

/**
 * A single-producer, single-consumer ring of values in a SharedArrayBuffer: how the serving
 * thread hands audit entries to the audit thread (src/audit/thread.ts) for the price of copying
 * their strings' code units, with no serialising, allocation or message per entry.
 *
 * Each entry is encoded (src/audit/entry-codec.ts) into the writer's scratch area first (its
 * length is known only then) and copied into the ring in one piece, behind a two-unit length;
 * an entry that does not fit before the end leaves a wrap mark and starts again at 0. Entries
 * become visible to the consumer only at `publish()` (one atomic store per event-loop turn, not
 * per entry).
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

/** Length unit pair that marks "the rest of the ring is unused: go to 0". */
const WRAP = 0xffff;

/** Atomics.waitAsync (Node 16+), which TypeScript's ES2022 library does not declare. */
interface WaitAsync {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

/** A SharedArrayBuffer of `bytes` (rounded down to whole units) for a ring. */
export function ringBuffer(bytes: number): SharedArrayBuffer {
  const units = Math.max(1024, Math.floor((bytes - HEADER_BYTES) / 2));
  return new SharedArrayBuffer(HEADER_BYTES + units * 2);
}

export class RingWriter extends EntryEncoder {
  private readonly header: Int32Array;
  private readonly data: Uint16Array;
  /** Where the next entry goes (published at `publish`). */
  private end: number;
  private sinceWake = 0;

  constructor(buffer: SharedArrayBuffer) {
    const data = new Uint16Array(buffer, HEADER_BYTES);
    super(data.length);
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.data = data;
    this.end = Atomics.load(this.header, WRITE);
  }

  /**
   * Appends one entry; false when the ring has no room for it now (the consumer is behind).
   * Throws EntryValueError for a value of another type (a function, an object, a symbol).
   */
  write(value: EntryValue): boolean {
    this.begin();
    this.value(value);
    return this.commit();
  }

  override begin(): void {
    if (Atomics.load(this.header, RESYNC) === 1) {
      this.forget();
      Atomics.store(this.header, RESYNC, 0);
    }
    super.begin();
  }

  /** Copies the entry begun into the ring; false when it has no room for it now. Throws EntryValueError for one larger than the ring. */
  commit(): boolean {
    const n = this.used;
    const cap = this.data.length;
    if (n + 3 > cap) throw new EntryValueError(`an audit entry of ${n} units does not fit a ring of ${cap}`);
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
    lengthTo(this.data, at, n);
    this.data.set(this.units(), at + 2);
    this.end = at + 2 + n;
    this.sinceWake++;
    this.taken();
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
    this.forget();
  }
}

export class RingReader {
  private readonly header: Int32Array;
  private readonly data: Uint16Array;
  private at: number;
  private readonly decoder = new EntryDecoder();

  constructor(buffer: SharedArrayBuffer) {
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.data = new Uint16Array(buffer, HEADER_BYTES);
    this.at = Atomics.load(this.header, READ);
    // The writer's next entry may name strings of an entry this reader never saw (one an earlier reader read).
    Atomics.store(this.header, RESYNC, 1);
  }

  /**
   * The next published entry, or undefined when there is none (the slot it took is freed at
   * once). Throws EntryValueError for an entry that cannot be read (it is skipped): one that
   * names a string of an entry this reader did not read (it started after a reader that died).
   */
  next(): { value: EntryValue } | undefined {
    const end = Atomics.load(this.header, WRITE);
    if (this.at === end) return undefined;
    let at = this.at;
    const cap = this.data.length;
    if (at + 2 > cap || (this.data[at] === WRAP && this.data[at + 1] === WRAP)) at = 0;
    const n = lengthAt(this.data, at);
    this.at = at + 2 + n;
    try {
      return { value: this.decoder.decode(this.data, at + 2, this.at) };
    } finally {
      Atomics.store(this.header, READ, this.at);
    }
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
}
