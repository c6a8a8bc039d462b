import { JochError } from '../errors.js';
import { storeUnavailable, type AppendResult, type LogEntry, type LogValue, type Store } from '../state/store.js';
import { isMessage, STORE_OPS, type Channel, type StoreOp, type ToPrimary, type ToWorker } from './channel.js';

/**
 * A worker's view of the primary's in-memory store: every call is a message to the primary,
 * which runs it on its MemoryStore and answers (errors keep their code, message and hint).
 * Atomicity is the primary's: a take or compare-and-append runs there in one step.
 */
export class IpcStore implements Store {
  readonly kind = 'memory' as const;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (err: Error) => void }>();
  private readonly subscriptions = new Map<number, (message: string) => void>();
  private readonly stop: () => void;
  private closed = false;

  constructor(private readonly channel: Channel<ToWorker, ToPrimary>) {
    this.stop = channel.onMessage((m) => {
      if (!isMessage(m)) return;
      if (m.t === 'reply') {
        const w = this.waiting.get(m.id);
        if (w === undefined) return;
        this.waiting.delete(m.id);
        if (m.error !== undefined) w.reject(new JochError(m.error.code, m.error.message, {}, m.error.hint));
        else w.resolve(m.value);
      } else if (m.t === 'published') this.subscriptions.get(m.sub)?.(m.message);
    });
  }

  available(): boolean {
    return !this.closed;
  }

  onAvailability(): void {
    // The primary's store is in memory: up for as long as the primary is.
  }

  get(tenant: string, collection: string, id: string): Promise<string | undefined> {
    return this.call('get', [tenant, collection, id]);
  }
  put(tenant: string, collection: string, id: string, value: string): Promise<void> {
    return this.call('put', [tenant, collection, id, value]);
  }
  remove(tenant: string, collection: string, id: string): Promise<boolean> {
    return this.call('remove', [tenant, collection, id]);
  }
  list(tenant: string, collection: string): Promise<string[]> {
    return this.call('list', [tenant, collection]);
  }
  append(tenant: string, log: string, expected: number, values: readonly LogValue[]): Promise<AppendResult> {
    // Text over the channel (its messages are JSON).
    return this.call('append', [tenant, log, expected, values.map((v) => (typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8')))]);
  }
  read(tenant: string, log: string, from: number, count: number): Promise<LogEntry[]> {
    return this.call('read', [tenant, log, from, count]);
  }
  length(tenant: string, log: string): Promise<number> {
    return this.call('length', [tenant, log]);
  }
  setExpiring(tenant: string, collection: string, id: string, value: string, ttlMs: number): Promise<void> {
    return this.call('setExpiring', [tenant, collection, id, value, ttlMs]);
  }
  getExpiring(tenant: string, collection: string, id: string): Promise<string | undefined> {
    return this.call('getExpiring', [tenant, collection, id]);
  }
  takeExpiring(tenant: string, collection: string, id: string): Promise<string | undefined> {
    return this.call('takeExpiring', [tenant, collection, id]);
  }
  listExpiring(tenant: string, collection: string, limit: number): Promise<{ id: string; value: string }[]> {
    return this.call('listExpiring', [tenant, collection, limit]);
  }
  publish(tenant: string, topic: string, message: string): Promise<void> {
    return this.call('publish', [tenant, topic, message]);
  }

  async subscribe(tenant: string, topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    const sub = await this.request<number>((id) => ({ t: 'subscribe', id, tenant, topic }));
    this.subscriptions.set(sub, handler);
    return async () => {
      if (!this.subscriptions.delete(sub) || this.closed) return;
      await this.request((id) => ({ t: 'unsubscribe', id, sub }));
    };
  }

  /** Stops listening; calls still waiting fail as the store being unavailable. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    this.subscriptions.clear();
    for (const w of this.waiting.values()) w.reject(storeUnavailable(new Error('the worker is closing')));
    this.waiting.clear();
  }

  /** The primary went away: every waiting call fails, and every later one. */
  disconnected(): void {
    void this.close();
  }

  private call<T>(op: StoreOp, args: readonly unknown[]): Promise<T> {
    return this.request<T>((id) => ({ t: 'store', id, op, args }));
  }

  private request<T>(message: (id: number) => ToPrimary): Promise<T> {
    if (this.closed) return Promise.reject(storeUnavailable(new Error('the primary process is gone')));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.channel.send(message(id))) return;
      this.waiting.delete(id);
      reject(storeUnavailable(new Error('the primary process is gone')));
    });
  }
}

/**
 * The primary's side: runs each worker's store calls on `store` and forwards what its
 * subscriptions receive. Returns a function that drops the worker's subscriptions (it exited).
 */
export function serveStore(channel: Channel<ToPrimary, ToWorker>, store: Store): () => Promise<void> {
  const subs = new Map<number, () => Promise<void>>();
  let nextSub = 1;
  const reply = (id: number, run: () => Promise<unknown>): void => {
    run().then(
      (value) => channel.send({ t: 'reply', id, value }),
      (err: unknown) => {
        const e = err instanceof JochError ? err : new JochError('JOCH_STORE_ERROR', err instanceof Error ? err.message : String(err));
        channel.send({ t: 'reply', id, error: { code: e.code, message: e.message, ...(e.hint !== undefined ? { hint: e.hint } : {}) } });
      },
    );
  };
  const stop = channel.onMessage((m) => {
    if (!isMessage(m)) return;
    if (m.t === 'store') {
      if (!STORE_OPS.has(m.op) || !Array.isArray(m.args)) return reply(m.id, () => Promise.reject(new JochError('JOCH_STORE_ERROR', `unknown store call ${JSON.stringify(m.op)}`)));
      reply(m.id, () => (store[m.op] as (...a: unknown[]) => Promise<unknown>).apply(store, m.args as unknown[]));
    } else if (m.t === 'subscribe') {
      reply(m.id, async () => {
        const sub = nextSub++;
        subs.set(sub, await store.subscribe(m.tenant, m.topic, (message) => channel.send({ t: 'published', sub, message })));
        return sub;
      });
    } else if (m.t === 'unsubscribe') {
      reply(m.id, async () => {
        await subs.get(m.sub)?.();
        subs.delete(m.sub);
      });
    }
  });
  return async () => {
    stop();
    for (const unsubscribe of subs.values()) await unsubscribe();
    subs.clear();
  };
}
