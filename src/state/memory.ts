import { checkCount, checkId, checkLimit, checkName, checkTenant, checkTtl, type AppendResult, type LogEntry, type Store } from './store.js';

/** Most expiring entries held per tenant and collection. */
const MAX_EXPIRING = 100_000;

/** A log held in memory: the newest entries, `dropped` older ones no longer held. */
interface HeldLog {
  entries: string[];
  dropped: number;
}

/**
 * The embedded default: everything in this process. Keys are tenant-first maps. Each log
 * holds about `maxLogEntries` of its newest entries (up to a quarter more between trims) (sequence numbers go on; older entries
 * live only in a sink such as the audit JSON Lines file), so a long-running process stays
 * bounded.
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
    if (!held) this.logs.set(key, (held = { entries: [], dropped: 0 }));
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

  async append(tenant: string, log: string, expected: number, values: readonly string[]): Promise<AppendResult> {
    const held = this.log(tenant, log);
    const length = held.dropped + held.entries.length;
    if (length !== expected) return { ok: false, length };
    held.entries.push(...values);
    // Trimmed in steps (a quarter of the bound at a time), so appends stay O(1) amortised.
    const excess = held.entries.length - this.maxLogEntries;
    if (excess > 0 && excess >= Math.min(this.maxLogEntries / 4, 65_536)) {
      held.entries.splice(0, excess);
      held.dropped += excess;
    }
    return { ok: true, length: length + values.length };
  }

  async read(tenant: string, log: string, from: number, count: number): Promise<LogEntry[]> {
    checkCount(from, count);
    const held = this.log(tenant, log);
    const start = Math.max(from, held.dropped + 1);
    return held.entries.slice(start - held.dropped - 1, start - held.dropped - 1 + Math.max(0, count - (start - from))).map((value, i) => ({ seq: start + i, value }));
  }

  /** Sequence of the oldest entry still held (1 until entries are dropped). */
  async oldestHeld(tenant: string, log: string): Promise<number> {
    return this.log(tenant, log).dropped + 1;
  }

  async length(tenant: string, log: string): Promise<number> {
    const held = this.log(tenant, log);
    return held.dropped + held.entries.length;
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
