import { checkCount, checkName, checkTenant, type AppendResult, type LogEntry, type Store } from './store.js';

/** The embedded default: everything in this process. Keys are tenant-first maps. */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const;
  private readonly docs = new Map<string, Map<string, string>>();
  private readonly logs = new Map<string, string[]>();
  private readonly topics = new Map<string, Set<(message: string) => void>>();

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

  private log(tenant: string, log: string): string[] {
    const key = `${checkTenant(tenant)}\u0000${checkName('log', log)}`;
    let entries = this.logs.get(key);
    if (!entries) this.logs.set(key, (entries = []));
    return entries;
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
    const entries = this.log(tenant, log);
    if (entries.length !== expected) return { ok: false, length: entries.length };
    entries.push(...values);
    return { ok: true, length: entries.length };
  }

  async read(tenant: string, log: string, from: number, count: number): Promise<LogEntry[]> {
    checkCount(from, count);
    return this.log(tenant, log)
      .slice(from - 1, from - 1 + count)
      .map((value, i) => ({ seq: from + i, value }));
  }

  async length(tenant: string, log: string): Promise<number> {
    return this.log(tenant, log).length;
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
