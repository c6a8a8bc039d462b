import { afterAll } from 'vitest';
import type { ToPrimary, ToWorker } from '../../src/cluster/channel.js';
import { IpcStore, serveStore } from '../../src/cluster/ipc-store.js';
import { MemoryStore } from '../../src/state/memory.js';
import { RedisStore } from '../../src/state/redis.js';
import type { Store } from '../../src/state/store.js';
import { REDIS_URL, testPrefix } from './redis-helpers.js';
import { channelPair } from '../cluster/channel-pair.js';
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
    // A `serve --workers` worker's view of the primary's memory store, over an IPC channel.
    'ipc (worker → primary memory store)',
    async () => {
      const [worker, primary] = channelPair<ToPrimary, ToWorker>();
      serveStore(primary, new MemoryStore());
      const s = new IpcStore(worker);
      stores.push(s);
      return s;
    },
  ],
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
