import { describe, expect, it } from 'vitest';
import type { ToPrimary, ToWorker } from '../../src/cluster/channel.js';
import { IpcStore, serveStore } from '../../src/cluster/ipc-store.js';
import { StoreInvalidationBus } from '../../src/secrets/bus.js';
import { MemoryStore } from '../../src/state/memory.js';
import { eventually } from '../state/redis-helpers.js';
import { channelPair } from './channel-pair.js';

describe('Secret rotations between serve --workers processes (the store bus)', () => {
  it('reach every other process, primary and workers, and not the one that rotated', async () => {
    const primaryStore = new MemoryStore();
    const workerStores = [0, 1].map(() => {
      const [worker, primary] = channelPair<ToPrimary, ToWorker>();
      serveStore(primary, primaryStore);
      return new IpcStore(worker);
    });
    const buses = [new StoreInvalidationBus(primaryStore, 'default'), ...workerStores.map((s) => new StoreInvalidationBus(s, 'default'))];
    const heard: string[][] = buses.map(() => []);
    await Promise.all(buses.map((b, i) => b.subscribe((secret) => heard[i]?.push(secret))));
    await buses[0]?.publish('openai-api-key');
    await buses[2]?.publish('vault-token');
    await eventually(() => heard.flat().length === 4, 2000, 'the rotations');
    expect(heard).toEqual([['vault-token'], ['openai-api-key', 'vault-token'], ['openai-api-key']]);
    // Another tenant's bus hears nothing of these.
    const other = new StoreInvalidationBus(primaryStore, 'globex');
    const otherHeard: string[] = [];
    await other.subscribe((s) => otherHeard.push(s));
    await buses[1]?.publish('x');
    await eventually(() => heard[0]?.length === 2, 2000, 'the third rotation');
    expect(otherHeard).toEqual([]);
    for (const b of [...buses, other]) await b.close();
    await Promise.all(workerStores.map((s) => s.close()));
  });
});
