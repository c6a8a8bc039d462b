import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JochError } from '../../src/errors.js';
import type { Store } from '../../src/state/store.js';
import { eventually } from './redis-helpers.js';

/**
 * The contract every Store implementation meets, as a suite: `make` returns a store (fresh or
 * shared; each test uses tenants of its own). Run for memory and single-node Redis
 * (store-contract.test.ts) and for Redis Sentinel and Cluster (redis-topologies.test.ts).
 */
export function describeStoreContract(implementations: readonly (readonly [string, () => Promise<Store>])[]): void {
  let n = 0;
  const fresh = (base: string): string => `${base}-${++n}`;

  describe.each(implementations as [string, () => Promise<Store>][])('Store contract: %s', (_kind, make) => {
    it('puts, gets, lists and removes documents per tenant and collection', async () => {
      const s = await make();
      const t = fresh('acme');
      await s.put(t, 'things', 'b', '2');
      await s.put(t, 'things', 'a', '1');
      await s.put(t, 'things', 'a', '1b');
      expect(await s.get(t, 'things', 'a')).toBe('1b');
      expect(await s.get(t, 'things', 'missing')).toBeUndefined();
      expect(await s.list(t, 'things')).toEqual(['a', 'b']);
      expect(await s.remove(t, 'things', 'a')).toBe(true);
      expect(await s.remove(t, 'things', 'a')).toBe(false);
      expect(await s.list(t, 'things')).toEqual(['b']);
      expect(await s.list(t, 'other')).toEqual([]);
    });

    it('appends only at the expected length and reads by sequence', async () => {
      const s = await make();
      const t = fresh('acme');
      expect(await s.append(t, 'log', 0, ['a', 'b'])).toEqual({ ok: true, length: 2 });
      expect(await s.append(t, 'log', 1, ['x'])).toEqual({ ok: false, length: 2 });
      expect(await s.append(t, 'log', 2, ['c'])).toEqual({ ok: true, length: 3 });
      expect(await s.length(t, 'log')).toBe(3);
      expect(await s.read(t, 'log', 1, 10)).toEqual([
        { seq: 1, value: 'a' },
        { seq: 2, value: 'b' },
        { seq: 3, value: 'c' },
      ]);
      expect(await s.read(t, 'log', 2, 1)).toEqual([{ seq: 2, value: 'b' }]);
      expect(await s.read(t, 'log', 4, 10)).toEqual([]);
      await expect(s.read(t, 'log', 0, 1)).rejects.toThrow(JochError);
    });

    it('serialises concurrent appenders: exactly one wins each sequence', async () => {
      const s = await make();
      const t = fresh('acme');
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.append(t, 'race', 0, [`w${i}`])));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(await s.length(t, 'race')).toBe(1);
    });

    it('delivers published messages to subscribers of the same tenant and topic only', async () => {
      const s = await make();
      const t = fresh('acme');
      const other = fresh('globex');
      const got: string[] = [];
      const leaked: string[] = [];
      const off = await s.subscribe(t, 'changes', (m) => got.push(m));
      const offOther = await s.subscribe(other, 'changes', (m) => leaked.push(m));
      await s.publish(t, 'changes', 'hello');
      await eventually(() => got.length === 1, 2000, 'message');
      expect(got).toEqual(['hello']);
      expect(leaked).toEqual([]);
      await off();
      await offOther();
    });

    it('rejects tenant and collection names that could reach other keys', async () => {
      const s = await make();
      for (const bad of ['', 'a:b', 'a}b', '{a}', 'a b', '../x', 'a\u0000b']) {
        await expect(s.get(bad, 'c', 'x')).rejects.toMatchObject({ code: 'JOCH_TENANT_INVALID' });
      }
      for (const bad of ['', 'a:b', 'x}y', 'a//b', ' c']) {
        await expect(s.list('acme', bad)).rejects.toMatchObject({ code: 'JOCH_STORE_NAME' });
      }
    });

    it('expiring entries: set, get, replace, and take exactly once even under concurrency', async () => {
      const s = await make();
      const t = fresh('acme');
      await s.setExpiring(t, 'grants', 'g1', 'v1', 60_000);
      expect(await s.getExpiring(t, 'grants', 'g1')).toBe('v1');
      await s.setExpiring(t, 'grants', 'g1', 'v2', 60_000);
      expect(await s.getExpiring(t, 'grants', 'g1')).toBe('v2');
      expect(await s.getExpiring(fresh('other'), 'grants', 'g1')).toBeUndefined();
      expect(await s.getExpiring(t, 'other', 'g1')).toBeUndefined();
      const takes = await Promise.all(Array.from({ length: 20 }, () => s.takeExpiring(t, 'grants', 'g1')));
      expect(takes.filter((v) => v !== undefined)).toEqual(['v2']);
      expect(await s.getExpiring(t, 'grants', 'g1')).toBeUndefined();
      expect(await s.takeExpiring(t, 'grants', 'never-set')).toBeUndefined();
    });

    it('expiring entries lapse by themselves', async () => {
      const s = await make();
      const t = fresh('acme');
      await s.setExpiring(t, 'grants', 'short', 'x', 60);
      await s.setExpiring(t, 'grants', 'long', 'y', 60_000);
      await new Promise((r) => setTimeout(r, 150));
      expect(await s.getExpiring(t, 'grants', 'short')).toBeUndefined();
      expect(await s.takeExpiring(t, 'grants', 'short')).toBeUndefined();
      expect(await s.takeExpiring(t, 'grants', 'long')).toBe('y');
    });

    it('lists a collection’s live expiring entries, soonest expiry first, up to a limit; taken and lapsed ones are gone', async () => {
      const s = await make();
      const t = fresh('acme');
      await s.setExpiring(t, 'tickets', 'c', '3', 90_000);
      await s.setExpiring(t, 'tickets', 'a', '1', 30_000);
      await s.setExpiring(t, 'tickets', 'b', '2', 60_000);
      await s.setExpiring(t, 'tickets', 'gone', 'x', 50);
      await s.setExpiring(t, 'other', 'z', 'elsewhere', 60_000);
      await s.setExpiring(fresh('globex'), 'tickets', 'y', 'other tenant', 60_000);
      await new Promise((r) => setTimeout(r, 120));
      expect(await s.listExpiring(t, 'tickets', 10)).toEqual([
        { id: 'a', value: '1' },
        { id: 'b', value: '2' },
        { id: 'c', value: '3' },
      ]);
      expect(await s.listExpiring(t, 'tickets', 2)).toEqual([
        { id: 'a', value: '1' },
        { id: 'b', value: '2' },
      ]);
      expect(await s.takeExpiring(t, 'tickets', 'b')).toBe('2');
      await s.setExpiring(t, 'tickets', 'a', '1b', 120_000);
      expect(await s.listExpiring(t, 'tickets', 10)).toEqual([
        { id: 'c', value: '3' },
        { id: 'a', value: '1b' },
      ]);
      expect(await s.listExpiring(t, 'empty', 10)).toEqual([]);
      for (const limit of [0, -1, 1.5, 10_001]) await expect(s.listExpiring(t, 'tickets', limit)).rejects.toMatchObject({ code: 'JOCH_STORE_RANGE' });
    });

    it('rejects expiring ids and expiries that are out of bounds', async () => {
      const s = await make();
      for (const bad of ['', 'a:b', 'a}b', 'a b', 'x'.repeat(201)]) {
        await expect(s.setExpiring('acme', 'grants', bad, 'v', 1000)).rejects.toMatchObject({ code: 'JOCH_STORE_NAME' });
      }
      for (const ttl of [0, -1, 1.5, 31 * 86_400_000]) {
        await expect(s.setExpiring('acme', 'grants', 'ok', 'v', ttl)).rejects.toMatchObject({ code: 'JOCH_STORE_RANGE' });
      }
    });

    it('never returns one tenant’s data to another (property)', async () => {
      const s = await make();
      const tenant = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,12}$/);
      const ids = fc.string({ minLength: 0, maxLength: 12 });
      await fc.assert(
        fc.asyncProperty(tenant, tenant, ids, fc.string({ maxLength: 20 }), async (a, b, id, value) => {
          fc.pre(a !== b);
          const ta = fresh(a);
          const tb = fresh(b);
          await s.put(ta, 'secrets', id, value);
          await s.append(ta, 'log', 0, [value]);
          expect(await s.get(tb, 'secrets', id)).toBeUndefined();
          expect(await s.list(tb, 'secrets')).toEqual([]);
          expect(await s.read(tb, 'log', 1, 10)).toEqual([]);
          expect(await s.length(tb, 'log')).toBe(0);
          expect(await s.get(ta, 'secrets', id)).toBe(value);
        }),
        { numRuns: 40 },
      );
    });
  });
}
