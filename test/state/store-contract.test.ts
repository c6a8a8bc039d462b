import { afterAll } from 'vitest';
import { MemoryStore } from '../../src/state/memory.js';
import { RedisStore } from '../../src/state/redis.js';
import type { Store } from '../../src/state/store.js';
import { REDIS_URL, testPrefix } from './redis-helpers.js';
import { describeStoreContract } from './store-contract.js';

const redisKeys = testPrefix();
const stores: Store[] = [];
afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await redisKeys.cleanup();
});

const implementations: [string, () => Promise<Store>][] = [
  ['memory', async () => new MemoryStore()],
  [
    'redis',
    async () => {
      const s = new RedisStore({ url: REDIS_URL, keyPrefix: redisKeys.prefix });
      stores.push(s);
      await s.ready();
      return s;
    },
  ],
];

describeStoreContract(implementations);
