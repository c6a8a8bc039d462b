import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/state/redis.js';
import type { Store } from '../../src/state/store.js';
import { RedisServers, startCluster, startSentinel, topologiesUnavailable } from './redis-servers.js';
import { describeStoreContract } from './store-contract.js';

/**
 * The store contract against real Redis Sentinel (master, replica, one sentinel) and Redis
 * Cluster (three masters) topologies, started here on loopback ports in temp dirs and torn
 * down after. Skipped, saying why, without redis-server and redis-cli.
 */
const missing = topologiesUnavailable();
if (missing) console.warn(`redis-topologies.test.ts skipped: ${missing}`);

describe.skipIf(missing !== undefined)('Redis topologies', () => {
  const servers = new RedisServers();
  const stores: Store[] = [];
  let sentinel: Awaited<ReturnType<typeof startSentinel>>;
  let cluster: number[];

  beforeAll(async () => {
    sentinel = await startSentinel(servers, 'joch-master');
    cluster = await startCluster(servers);
  }, 60_000);
  afterAll(async () => {
    for (const s of stores) await s.close();
    await servers.stop();
  });

  const open = async (options: ConstructorParameters<typeof RedisStore>[0]): Promise<Store> => {
    const s = new RedisStore(options);
    stores.push(s);
    await s.ready(10_000);
    return s;
  };
  const viaSentinel = (): Promise<Store> => open({ sentinel: { sentinels: [{ host: '127.0.0.1', port: sentinel.sentinel }], name: 'joch-master' } });
  const viaCluster = (): Promise<Store> => open({ cluster: { nodes: cluster.map((port) => ({ host: '127.0.0.1', port })) } });

  describeStoreContract([
    ['redis sentinel', viaSentinel],
    ['redis cluster', viaCluster],
  ]);

  it('sentinel: the store writes to the master the sentinel names', async () => {
    const s = await viaSentinel();
    await s.put('acme', 'things', 'a', '1');
    const { Redis } = await import('ioredis');
    const master = new Redis({ port: sentinel.master, host: '127.0.0.1' });
    try {
      expect(await master.hget('joch:{acme}:c:things', 'a')).toBe('1');
    } finally {
      master.disconnect();
    }
  });

  it('cluster: one tenant’s keys share a slot (the {tenant} hash tag); tenants spread over the masters', async () => {
    const { Cluster } = await import('ioredis');
    const c = new Cluster(cluster.map((port) => ({ host: '127.0.0.1', port })));
    try {
      const slot = async (key: string): Promise<number> => Number(await c.call('CLUSTER', 'KEYSLOT', key));
      const keys = ['joch:{acme}:c:things', 'joch:{acme}:l:audit', 'joch:{acme}:x:overrides/grants:abc', 'joch:{acme}:p:policies/prod'];
      const slots = new Set(await Promise.all(keys.map(slot)));
      expect(slots.size).toBe(1);
      const tenants = Array.from({ length: 30 }, (_, i) => `tenant-${i}`);
      const spread = new Set(await Promise.all(tenants.map((t) => slot(`joch:{${t}}:c:x`))));
      expect(spread.size).toBeGreaterThan(20);
    } finally {
      c.disconnect();
    }
  });
});
