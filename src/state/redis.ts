import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { checkCount, checkId, checkLimit, checkName, checkTenant, checkTtl, storeUnavailable, type AppendResult, type LogEntry, type LogValue, type Store } from './store.js';

export interface HostPortRef {
  readonly host: string;
  readonly port: number;
}

/** Connection options: one of a URL (single node), Sentinel, or Cluster. */
export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]` (or rediss://). */
  readonly url?: string;
  readonly sentinel?: { readonly sentinels: readonly HostPortRef[]; readonly name: string; readonly password?: string };
  readonly cluster?: { readonly nodes: readonly HostPortRef[] };
  /** Prefix of every key and channel (default `joch:`), so several deployments can share a server. */
  readonly keyPrefix?: string;
  /** Longest wait between reconnection attempts (default 2000 ms). */
  readonly maxReconnectDelayMs?: number;
}

/**
 * Appends only when the stream holds exactly ARGV[1] entries. Entry ids are `0-<seq>`, so a
 * sequence maps straight to a stream id and XADD itself refuses to go backwards.
 */
const APPEND_SCRIPT = `
local n = redis.call('XLEN', KEYS[1])
if n ~= tonumber(ARGV[1]) then return {0, n} end
for i = 2, #ARGV do redis.call('XADD', KEYS[1], '0-' .. (n + i - 1), 'v', ARGV[i]) end
return {1, n + #ARGV - 1}
`;

/** GET and DEL in one step (GETDEL needs Redis 6.2; the script works on every version), and out of the collection's index. */
const TAKE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
redis.call('ZREM', KEYS[2], ARGV[1])
return v
`;

type Client = Redis | Cluster;
type WithAppend = Client & { jochAppend(key: string, ...args: (string | Buffer)[]): Promise<[number, number]>; jochTake(key: string, index: string, id: string): Promise<string | null> };

/**
 * Redis through ioredis. Keys are `<prefix>{<tenant>}:<kind>:<name>`: the tenant is a Redis
 * Cluster hash tag, so one tenant's keys share a slot (the append script touches one key) and
 * a tenant name cannot contain the separators. Collections are hashes, logs are streams
 * (audit: one stream per tenant), topics are pub/sub channels.
 *
 * When Redis is down, commands fail at once (no unbounded offline queue): callers that need
 * shared state fail closed, and the audit log keeps its own bounded buffer. ioredis reconnects
 * by itself; subscriptions are restored on reconnect.
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: WithAppend;
  private subscriber: Client | undefined;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();
  private readonly listeners: ((up: boolean) => void)[] = [];
  private readonly prefix: string;
  private readonly common: RedisOptions;
  private up = false;

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.keyPrefix ?? 'joch:';
    const maxDelay = options.maxReconnectDelayMs ?? 2000;
    const common: RedisOptions = (this.common = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay),
      lazyConnect: false,
    });
    this.client = createClient(options, common) as WithAppend;
    this.client.defineCommand('jochAppend', { numberOfKeys: 1, lua: APPEND_SCRIPT });
    this.client.defineCommand('jochTake', { numberOfKeys: 2, lua: TAKE_SCRIPT });
    this.client.on('error', () => {
      // Connection errors surface through availability; ioredis reconnects by itself.
    });
    this.client.on('ready', () => this.setUp(true));
    this.client.on('close', () => this.setUp(false));
  }

  /** Resolves when connected, or rejects after `timeoutMs`. */
  ready(timeoutMs = 5000): Promise<void> {
    if (this.up) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(storeUnavailable(new Error(`not connected after ${timeoutMs} ms`))), timeoutMs);
      this.onAvailability((up) => {
        if (up) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  private setUp(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    for (const l of this.listeners) l(up);
  }

  available(): boolean {
    return this.up;
  }

  onAvailability(listener: (up: boolean) => void): void {
    this.listeners.push(listener);
  }

  private key(tenant: string, kind: 'c' | 'l' | 'p', name: string): string {
    return `${this.prefix}{${checkTenant(tenant)}}:${kind}:${checkName(kind === 'c' ? 'collection' : kind === 'l' ? 'log' : 'topic', name)}`;
  }

  /** Expiring entries are string keys (a hash field cannot expire before Redis 7.4): `<prefix>{<tenant>}:x:<collection>:<id>`. */
  private expiringKey(tenant: string, collection: string, id: string): string {
    return `${this.prefix}{${checkTenant(tenant)}}:x:${checkName('collection', collection)}:${checkId(id)}`;
  }

  /** A collection's index of expiring entries, for listing (no SCAN across a Cluster): ids scored by expiry. */
  private expiringIndex(tenant: string, collection: string): string {
    return `${this.prefix}{${checkTenant(tenant)}}:xi:${checkName('collection', collection)}`;
  }

  private async run<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof Error && /ERR|WRONGTYPE|NOSCRIPT/.test(err.message) && this.up) throw err;
      throw storeUnavailable(err);
    }
  }

  async get(tenant: string, collection: string, id: string): Promise<string | undefined> {
    const key = this.key(tenant, 'c', collection);
    return this.run(async () => (await this.client.hget(key, id)) ?? undefined);
  }

  async put(tenant: string, collection: string, id: string, value: string): Promise<void> {
    const key = this.key(tenant, 'c', collection);
    return this.run(async () => {
      await this.client.hset(key, id, value);
    });
  }

  async remove(tenant: string, collection: string, id: string): Promise<boolean> {
    const key = this.key(tenant, 'c', collection);
    return this.run(async () => (await this.client.hdel(key, id)) > 0);
  }

  async list(tenant: string, collection: string): Promise<string[]> {
    const key = this.key(tenant, 'c', collection);
    return this.run(async () => (await this.client.hkeys(key)).sort());
  }

  async append(tenant: string, log: string, expected: number, values: readonly LogValue[]): Promise<AppendResult> {
    const key = this.key(tenant, 'l', log);
    if (values.length === 0) {
      const length = await this.length(tenant, log);
      return { ok: length === expected, length } as AppendResult;
    }
    return this.run(async () => {
      // Bytes go as they are (ioredis sends a Buffer argument unchanged).
      const [ok, length] = await this.client.jochAppend(key, String(expected), ...values.map((v) => (typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength))));
      return { ok: ok === 1, length } as AppendResult;
    });
  }

  async read(tenant: string, log: string, from: number, count: number): Promise<LogEntry[]> {
    checkCount(from, count);
    const key = this.key(tenant, 'l', log);
    if (count === 0) return [];
    return this.run(async () => {
      const rows = await this.client.xrange(key, `0-${from}`, '+', 'COUNT', count);
      return rows.map(([id, fields]) => ({ seq: Number(id.slice(2)), value: fields[1] ?? '' }));
    });
  }

  async length(tenant: string, log: string): Promise<number> {
    const key = this.key(tenant, 'l', log);
    return this.run(() => this.client.xlen(key));
  }

  async setExpiring(tenant: string, collection: string, id: string, value: string, ttlMs: number): Promise<void> {
    const key = this.expiringKey(tenant, collection, id);
    checkTtl(ttlMs);
    const index = this.expiringIndex(tenant, collection);
    const now = Date.now();
    // One round trip; the keys share the tenant's hash tag (one Cluster slot). Expired ids leave the index here.
    return this.run(async () => {
      const results = await this.client.multi().set(key, value, 'PX', ttlMs).zadd(index, now + ttlMs, id).zremrangebyscore(index, '-inf', now).exec();
      const failed = results?.find(([err]) => err !== null);
      if (results === null || failed) throw failed?.[0] ?? new Error('the transaction was discarded');
    });
  }

  async getExpiring(tenant: string, collection: string, id: string): Promise<string | undefined> {
    const key = this.expiringKey(tenant, collection, id);
    return this.run(async () => (await this.client.get(key)) ?? undefined);
  }

  async takeExpiring(tenant: string, collection: string, id: string): Promise<string | undefined> {
    const key = this.expiringKey(tenant, collection, id);
    const index = this.expiringIndex(tenant, collection);
    return this.run(async () => (await this.client.jochTake(key, index, id)) ?? undefined);
  }

  async listExpiring(tenant: string, collection: string, limit: number): Promise<{ id: string; value: string }[]> {
    const index = this.expiringIndex(tenant, collection);
    checkLimit(limit);
    return this.run(async () => {
      const ids = await this.client.zrangebyscore(index, Date.now(), '+inf', 'LIMIT', 0, limit);
      if (ids.length === 0) return [];
      const values = await this.client.mget(...ids.map((id) => this.expiringKey(tenant, collection, id)));
      // An id whose key expired or was taken since: left out.
      return ids.flatMap((id, i) => {
        const value = values[i];
        return typeof value === 'string' ? [{ id, value }] : [];
      });
    });
  }

  async publish(tenant: string, topic: string, message: string): Promise<void> {
    const channel = this.key(tenant, 'p', topic);
    return this.run(async () => {
      await this.client.publish(channel, message);
    });
  }

  async subscribe(tenant: string, topic: string, handler: (message: string) => void): Promise<() => Promise<void>> {
    const channel = this.key(tenant, 'p', topic);
    if (!this.subscriber) {
      // A connection in subscriber mode can do nothing else; it queues while offline, since
      // ioredis re-subscribes every channel when it reconnects.
      const sub = createClient(this.options, { ...this.common, enableOfflineQueue: true, maxRetriesPerRequest: null });
      sub.on('error', () => {});
      sub.on('message', (ch: string, message: string) => {
        for (const h of this.handlers.get(ch) ?? []) h(message);
      });
      this.subscriber = sub;
    }
    let set = this.handlers.get(channel);
    if (!set) {
      this.handlers.set(channel, (set = new Set()));
      await this.subscriber.subscribe(channel);
    }
    const own = (m: string): void => handler(m);
    set.add(own);
    return async () => {
      set.delete(own);
      if (set.size === 0) {
        this.handlers.delete(channel);
        // While disconnected the command would wait for the reconnect: skip it (a message to a channel nobody handles is dropped).
        if (this.subscriber?.status === 'ready') await this.subscriber.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  async close(): Promise<void> {
    // Closing is not an outage: nobody is told the store went down.
    this.listeners.length = 0;
    this.setUp(false);
    this.client.disconnect();
    this.subscriber?.disconnect();
  }
}

function createClient(options: RedisStoreOptions, common: RedisOptions): Client {
  if (options.cluster) {
    return new Cluster(
      options.cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
      { enableOfflineQueue: common.enableOfflineQueue ?? false, clusterRetryStrategy: common.retryStrategy, redisOptions: common },
    );
  }
  if (options.sentinel) {
    return new Redis({
      ...common,
      sentinels: options.sentinel.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: options.sentinel.name,
      ...(options.sentinel.password !== undefined ? { password: options.sentinel.password } : {}),
    });
  }
  return new Redis(options.url ?? 'redis://127.0.0.1:6379', common);
}

/** Connects (waiting up to 5 s for a first connection, then going on and reconnecting by itself), with availability logged. */
export async function openRedisStore(options: ConstructorParameters<typeof RedisStore>[0], log: Logger): Promise<RedisStore> {
  const redis = new RedisStore(options);
  redis.onAvailability((up) => (up ? log.info('state store (Redis) connected') : log.error('state store (Redis) unavailable; deciding from the policies held, holding audit records, reconnecting')));
  await redis.ready(5000).catch(() => log.error('state store (Redis) not reachable at start; going on and reconnecting'));
  return redis;
}
