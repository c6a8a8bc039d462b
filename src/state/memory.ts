import { checkCount, checkId, checkLimit, checkName, checkTenant, checkTtl, type AppendResult, type LogEntry, type LogValue, type Store } from './store.js';

/** Most expiring entries held per tenant and collection. */
const MAX_EXPIRING = 100_000;

/** Sizes of a held log's byte segments: each new one twice the last, from the first to the most (small first: a gateway may hold a log for each of many tenants). */
const FIRST_SEGMENT_BYTES = 4 * 1024;
const MAX_SEGMENT_BYTES = 1024 * 1024;

/** Entries of a log, UTF-8, back to back; `start` is the first one's sequence number, `ends[i]` where entry i ends. */
interface Segment {
  readonly start: number;
  readonly bytes: Buffer;
  readonly ends: number[];
  used: number;
}

/**
 * A log held in memory: its newest entries' UTF-8 bytes in segments outside the JS heap.
 * Held as strings, the 100k audit records a gateway keeps by default made every garbage
 * collection copy or walk them (measured: 5-8% of a single process's Check throughput with
 * audit on). Entries before `first` are no longer held; a segment goes once none of its
 * entries is held.
 */
class HeldLog {
  /** Entries ever appended (the last one's sequence number). */
  length = 0;
  /** Sequence number of the oldest entry held. */
  first = 1;
  private readonly segments: Segment[] = [];
  /**
   * The last full-size segment let go, reused for the next one: in the steady state of a
   * bounded log one goes as one comes, and fresh allocations would each count as new
   * external memory, which V8 answers with full collections (measured: 29 against 7 in one
   * bench of `serve --workers`).
   */
  private spare: Buffer | undefined;

  append(values: readonly LogValue[], max: number): void {
    // Byte values that lie back to back in one buffer (a chained batch) and go to one segment
    // are copied in one piece: `run` is where such a run starts in its source, `runAt` where
    // it goes in `runSeg`, and it reaches `runEnd` (source offset).
    let run: Uint8Array | undefined;
    let runSeg: Segment | undefined;
    let runAt = 0;
    let runEnd = 0;
    const flush = (): void => {
      if (run === undefined) return;
      (runSeg as Segment).bytes.set(new Uint8Array(run.buffer, run.byteOffset, runEnd - run.byteOffset), runAt);
      run = undefined;
    };
    for (const value of values) {
      let seg = this.segments[this.segments.length - 1];
      const room = seg === undefined ? 0 : seg.bytes.length - seg.used;
      const text = typeof value === 'string';
      // At most 3 bytes per UTF-16 unit: only a long entry near a segment's end is measured.
      const size = !text ? value.length : value.length * 3 <= room ? 0 : Buffer.byteLength(value, 'utf8');
      if (seg === undefined || size > room) {
        flush();
        const next = Math.max(seg === undefined ? FIRST_SEGMENT_BYTES : Math.min(seg.bytes.length * 2, MAX_SEGMENT_BYTES), size);
        const reuse = this.spare !== undefined && this.spare.length >= next;
        seg = { start: this.length + 1, bytes: reuse ? (this.spare as Buffer) : Buffer.allocUnsafeSlow(next), ends: [], used: 0 };
        if (reuse) this.spare = undefined;
        this.segments.push(seg);
      }
      if (text) {
        flush();
        seg.used += seg.bytes.write(value, seg.used, 'utf8');
      } else {
        if (run === undefined || runSeg !== seg || value.buffer !== run.buffer || value.byteOffset !== runEnd) {
          flush();
          run = value;
          runSeg = seg;
          runAt = seg.used;
        }
        runEnd = value.byteOffset + value.length;
        seg.used += value.length;
      }
      seg.ends.push(seg.used);
      this.length++;
    }
    flush();
    if (this.length - this.first + 1 > max) this.first = this.length - max + 1;
    while (this.segments.length > 1 && (this.segments[0] as Segment).start + (this.segments[0] as Segment).ends.length <= this.first) {
      const gone = (this.segments.shift() as Segment).bytes;
      if (gone.length === MAX_SEGMENT_BYTES) this.spare = gone;
    }
  }

  /** Entries `from` to `to` (inclusive) that are held. */
  read(from: number, to: number): LogEntry[] {
    const out: LogEntry[] = [];
    const last = Math.min(to, this.length);
    let i = this.segmentOf(Math.max(from, this.first));
    for (let seq = Math.max(from, this.first); seq <= last; seq++) {
      let seg = this.segments[i] as Segment;
      if (seq - seg.start >= seg.ends.length) seg = this.segments[++i] as Segment;
      const k = seq - seg.start;
      out.push({ seq, value: seg.bytes.toString('utf8', k === 0 ? 0 : (seg.ends[k - 1] as number), seg.ends[k]) });
    }
    return out;
  }

  /** Index of the segment holding `seq` (binary search over their starts). */
  private segmentOf(seq: number): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.segments[mid] as Segment).start <= seq) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}

/**
 * The embedded default: everything in this process. Keys are tenant-first maps. Each log
 * holds its newest `maxLogEntries` entries (sequence numbers go on; older entries live only
 * in a sink such as the audit JSON Lines file), so a long-running process stays bounded.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly docs = new Map<string, Map<string, string>>();
  private readonly logs = new Map<string, HeldLog>();
  constructor(private readonly maxLogEntries = Number.MAX_SAFE_INTEGER) {}
  private readonly topics = new Map<string, Set<(message: string) => void>>();
  /** Expiring entries by tenant and collection: value and expiry (epoch ms), oldest set first. */
  private readonly expiring = new Map<string, Map<string, { value: string; expires: number }>>();

  available(): boolean {
    return true;
  }

  onAvailability(): void {
    // always available
  }

  private collection(tenant: string, collection: string, create: boolean): Map<string, string> | undefined {
    const key = `${checkTenant(tenant)}\u0000${checkName('collection', collection)}`;
    let map = this.docs.get(key);
    if (!map && create) this.docs.set(key, (map = new Map()));
    return map;
  }

  private log(tenant: string, log: string): HeldLog {
    const key = `${checkTenant(tenant)}\u0000${checkName('log', log)}`;
    let held = this.logs.get(key);
    if (!held) this.logs.set(key, (held = new HeldLog()));
    return held;
  }

  async get(tenant: string, collection: string, id: string): Promise<string | undefined> {
    return this.collection(tenant, collection, false)?.get(id);
  }

  async put(tenant: string, collection: string, id: string, value: string): Promise<void> {
    this.collection(tenant, collection, true)?.set(id, value);
  }

  async remove(tenant: string, collection: string, id: string): Promise<boolean> {
    return this.collection(tenant, collection, false)?.delete(id) ?? false;
  }

  async list(tenant: string, collection: string): Promise<string[]> {
    return [...(this.collection(tenant, collection, false)?.keys() ?? [])].sort();
  }

  async append(tenant: string, log: string, expected: number, values: readonly LogValue[]): Promise<AppendResult> {
    const held = this.log(tenant, log);
    if (held.length !== expected) return { ok: false, length: held.length };
    held.append(values, this.maxLogEntries);
    return { ok: true, length: held.length };
  }

  async read(tenant: string, log: string, from: number, count: number): Promise<LogEntry[]> {
    checkCount(from, count);
    return this.log(tenant, log).read(from, from + count - 1);
  }

  /** Sequence of the oldest entry still held (1 until entries are dropped). */
  async oldestHeld(tenant: string, log: string): Promise<number> {
    return this.log(tenant, log).first;
  }

  async length(tenant: string, log: string): Promise<number> {
    return this.log(tenant, log).length;
  }

  private expiringMap(tenant: string, collection: string): Map<string, { value: string; expires: number }> {
    const key = `${checkTenant(tenant)}\u0000${checkName('collection', collection)}`;
    let map = this.expiring.get(key);
    if (!map) this.expiring.set(key, (map = new Map()));
    return map;
  }

  async setExpiring(tenant: string, collection: string, id: string, value: string, ttlMs: number): Promise<void> {
    const map = this.expiringMap(tenant, collection);
    const now = Date.now();
    map.delete(checkId(id)); // re-inserted last, so the map stays in set order
    map.set(id, { value, expires: now + checkTtl(ttlMs) });
    if (map.size > MAX_EXPIRING) {
      // Bounded: drop what expired, then the oldest (a flood of denials cannot grow memory).
      for (const [k, e] of map) if (e.expires <= now) map.delete(k);
      for (const k of map.keys()) {
        if (map.size <= MAX_EXPIRING) break;
        map.delete(k);
      }
    }
  }

  async getExpiring(tenant: string, collection: string, id: string): Promise<string | undefined> {
    return this.readExpiring(tenant, collection, id, false);
  }

  async takeExpiring(tenant: string, collection: string, id: string): Promise<string | undefined> {
    return this.readExpiring(tenant, collection, id, true);
  }

  async listExpiring(tenant: string, collection: string, limit: number): Promise<{ id: string; value: string }[]> {
    checkLimit(limit);
    const now = Date.now();
    const live = [...this.expiringMap(tenant, collection)].filter(([, e]) => e.expires > now);
    return live
      .sort((a, b) => a[1].expires - b[1].expires)
      .slice(0, limit)
      .map(([id, e]) => ({ id, value: e.value }));
  }

  /** Synchronous, so a take is atomic: no other call runs between the read and the delete. */
  private readExpiring(tenant: string, collection: string, id: string, take: boolean): string | undefined {
    const map = this.expiringMap(tenant, collection);
    const e = map.get(checkId(id));
    if (e === undefined) return undefined;
    const live = e.expires > Date.now();
    if (take || !live) map.delete(id);
    return live ? e.value : undefined;
  }

  async publish(tenant: string, topic: string, message: string): Promise<void> {
    const handlers = this.topics.get(`${checkTenant(tenant)}\u0000${checkName('topic', topic)}`);
    // Delivered asynchronously, as Redis would, so callers never depend on re-entrancy.
    for (const h of handlers ?? []) queueMicrotask(() => h(message));
  }

  async subscribe(tenant: string, topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    const key = `${checkTenant(tenant)}\u0000${checkName('topic', topic)}`;
    let handlers = this.topics.get(key);
    if (!handlers) this.topics.set(key, (handlers = new Set()));
    const own = (m: string): void => handler(m);
    handlers.add(own);
    return async () => {
      handlers.delete(own);
    };
  }

  async close(): Promise<void> {
    this.topics.clear();
  }
}
