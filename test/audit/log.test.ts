import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpointer, checkpointKey, verifyCheckpoints } from '../../src/audit/checkpoint.js';
import { JsonlFileSink, loadJsonlInto } from '../../src/audit/file-sink.js';
import { AuditLog } from '../../src/audit/log.js';
import { AUDIT_LOG, GENESIS_HASH, type AuditEvent, type AuditRecord } from '../../src/audit/record.js';
import { verifyChain } from '../../src/audit/verify.js';
import { MemoryStore } from '../../src/state/memory.js';
import { RedisStore } from '../../src/state/redis.js';
import type { LogEntry } from '../../src/state/store.js';
import { eventually, REDIS_URL, redisProxy, testPrefix } from '../state/redis-helpers.js';
import { capturedLogger } from './helpers.js';

const keys = testPrefix();
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
  await keys.cleanup();
});

const event = (tenant: string, i: number): AuditEvent => ({ tenant, type: 'admin.request', actor: { type: 'operator', id: 'alice' }, data: { i } });

async function chainEntries(n: number): Promise<LogEntry[]> {
  const store = new MemoryStore();
  const audit = new AuditLog({ store });
  for (let i = 0; i < n; i++) audit.record(event('acme', i));
  expect(await audit.flush()).toBe(true);
  return store.read('acme', AUDIT_LOG, 1, n);
}

describe('audit log (memory)', () => {
  it('chains records per tenant with sequence, time, actor, tenant, prevHash and hash', async () => {
    const store = new MemoryStore();
    const audit = new AuditLog({ store, batchSize: 3 });
    for (let i = 0; i < 7; i++) audit.record(event(i % 2 ? 'acme' : 'globex', i));
    expect(await audit.flush()).toBe(true);
    const acme = await audit.read('acme');
    expect(acme.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(acme.map((r) => r.data.i)).toEqual([1, 3, 5]);
    expect(acme[0]?.prevHash).toBe(GENESIS_HASH);
    expect(acme[1]?.prevHash).toBe(acme[0]?.hash);
    expect(acme.every((r) => r.tenant === 'acme' && r.actor.id === 'alice' && /^\d{4}-\d\d-\d\dT/.test(r.time) && /^[0-9a-f]{64}$/.test(r.hash))).toBe(true);
    expect(await audit.verify('acme')).toMatchObject({ ok: true, records: 3 });
    expect(await audit.verify('globex')).toMatchObject({ ok: true, records: 4 });
  });

  it('names the first changed, removed or reordered record', async () => {
    const entries = await chainEntries(6);
    expect(verifyChain(entries)).toMatchObject({ ok: true, records: 6 });

    const changed = entries.map((e) => (e.seq === 3 ? { ...e, value: e.value.replace('"i":2', '"i":99') } : e));
    expect(verifyChain(changed)).toMatchObject({ ok: false, seq: 3, problem: 'changed' });

    // Changed and re-hashed: the next record's prevHash gives it away.
    const r3 = JSON.parse(entries[2]!.value) as AuditRecord;
    const { hash: _h, ...body } = { ...r3, data: { i: 99 } };
    const { hashRecord } = await import('../../src/audit/record.js');
    const rehashed = entries.map((e) => (e.seq === 3 ? { ...e, value: JSON.stringify({ ...body, hash: hashRecord(body) }) } : e));
    expect(verifyChain(rehashed)).toMatchObject({ ok: false, seq: 3, problem: 'changed' });

    expect(verifyChain(entries.filter((e) => e.seq !== 4))).toMatchObject({ ok: false, seq: 4, problem: 'removed' });
    const swapped = [...entries];
    [swapped[1], swapped[2]] = [swapped[2]!, swapped[1]!];
    expect(verifyChain(swapped)).toMatchObject({ ok: false, seq: 2, problem: 'reordered' });
    expect(verifyChain([...entries.slice(0, 2), { seq: 3, value: 'not json' }])).toMatchObject({ ok: false, seq: 3, problem: 'unreadable' });
  });

  it('memory mode holds only the newest records; verify covers what is held, and a missing first record is still found', async () => {
    const store = new MemoryStore(5);
    const audit = new AuditLog({ store, batchSize: 3 });
    for (let i = 0; i < 8; i++) audit.record(event('acme', i));
    await audit.flush();
    expect((await audit.read('acme', 1, 100)).map((r) => r.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(await audit.verify('acme')).toMatchObject({ ok: true, records: 5, firstSeq: 4 });
    const entries = await chainEntries(4);
    expect(verifyChain(entries.slice(1))).toMatchObject({ ok: false, seq: 1, problem: 'removed' });
  });

  it('writes a JSON Lines file per tenant and continues the chain from it after a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'joch-audit-'));
    const first = new AuditLog({ store: new MemoryStore(), sink: new JsonlFileSink(dir) });
    for (let i = 0; i < 3; i++) first.record(event('acme', i));
    await first.flush();
    const lines = (await readFile(join(dir, 'acme.audit.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(3);

    const store = new MemoryStore();
    expect(await loadJsonlInto(dir, store)).toBe(3);
    const second = new AuditLog({ store, sink: new JsonlFileSink(dir) });
    second.record(event('acme', 3));
    await second.flush();
    expect((await second.read('acme')).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
    expect(await second.verify('acme')).toMatchObject({ ok: true, records: 4 });

    // Tampering with the file is found after the next load.
    await writeFile(join(dir, 'acme.audit.jsonl'), (await readFile(join(dir, 'acme.audit.jsonl'), 'utf8')).replace('"i":1', '"i":7'));
    const third = new MemoryStore();
    await loadJsonlInto(dir, third);
    expect(await new AuditLog({ store: third }).verify('acme')).toMatchObject({ ok: false, seq: 2, problem: 'changed' });
  });

  it('signs checkpoints with JWS; a truncated or rewritten chain no longer matches them', async () => {
    const store = new MemoryStore();
    const audit = new AuditLog({ store });
    for (let i = 0; i < 4; i++) audit.record(event('acme', i));
    await audit.flush();
    const key = await checkpointKey();
    const cp = new Checkpointer(audit, store, key);
    const jws = await cp.checkpoint('acme');
    expect(jws?.split('.')).toHaveLength(3);
    const { verified } = await verifyCheckpoints('acme', await cp.list('acme'), key.publicJwk);
    expect(verified).toEqual([{ seq: 4, hash: (await audit.head('acme')).hash }]);
    expect(await audit.verify('acme', verified)).toMatchObject({ ok: true, checkpoints: 1 });

    const entries = await store.read('acme', AUDIT_LOG, 1, 10);
    expect(verifyChain(entries.slice(0, 3), verified)).toMatchObject({ ok: false, problem: 'truncated' });

    // Another replica's key: counted, not trusted. This key's id with a bad signature: rejected.
    const other = await checkpointKey();
    expect(await verifyCheckpoints('acme', [jws!], other.publicJwk)).toEqual({ verified: [], otherKeys: 1 });
    const foreign = await new Checkpointer(audit, new MemoryStore(), other).checkpoint('acme');
    const forged = `${jws!.split('.').slice(0, 2).join('.')}.${foreign!.split('.')[2]}`;
    await expect(verifyCheckpoints('acme', [forged], key.publicJwk)).rejects.toMatchObject({ code: 'JOCH_AUDIT_CHECKPOINT' });
    await expect(verifyCheckpoints('globex', [jws!], key.publicJwk)).rejects.toMatchObject({ code: 'JOCH_AUDIT_CHECKPOINT' });
  });
});

describe('audit log (Redis)', () => {
  it('keeps one valid chain per tenant with several writers (replicas) appending at once', async () => {
    const stores = [new RedisStore({ url: REDIS_URL, keyPrefix: keys.prefix }), new RedisStore({ url: REDIS_URL, keyPrefix: keys.prefix })];
    cleanups.push(async () => void (await Promise.all(stores.map((s) => s.close()))));
    await Promise.all(stores.map((s) => s.ready()));
    const logs = stores.map((store) => new AuditLog({ store, batchSize: 7 }));
    for (let i = 0; i < 100; i++) logs[i % 2]!.record(event('replicas', i));
    expect(await Promise.all(logs.map((l) => l.flush()))).toEqual([true, true]);
    const records = await logs[0]!.read('replicas');
    expect(records).toHaveLength(100);
    expect(new Set(records.map((r) => r.data.i)).size).toBe(100);
    expect(await logs[1]!.verify('replicas')).toMatchObject({ ok: true, records: 100 });
  });

  it('holds records while Redis is unreachable, flushes them on reconnect, and records overflow as a gap', async () => {
    const proxy = await redisProxy();
    const store = new RedisStore({ url: proxy.url, keyPrefix: keys.prefix, maxReconnectDelayMs: 100 });
    cleanups.push(async () => {
      await store.close();
      await proxy.close();
    });
    await store.ready();
    const registry = new Registry();
    const { log, lines } = capturedLogger();
    const audit = new AuditLog({ store, registry, log, maxBuffered: 10, retryMs: 50 });
    audit.record(event('outage', 0));
    await audit.flush();

    await proxy.cut();
    await eventually(() => !store.available(), 3000, 'store down');
    await expect(store.get('outage', 'c', 'x')).rejects.toMatchObject({ code: 'JOCH_STORE_UNAVAILABLE' });
    for (let i = 1; i <= 15; i++) audit.record(event('outage', i));
    expect(await audit.flush(300)).toBe(false);
    expect(audit.buffered).toBe(10);
    const overflow = (await registry.getSingleMetric('joch_audit_overflow_total')?.get())?.values[0]?.value;
    expect(overflow).toBe(5);
    expect(lines().some((l) => l.level === 50 && String(l.msg).includes('audit buffer full'))).toBe(true);

    await proxy.restore();
    expect(await audit.flush(5000)).toBe(true);
    const records = await audit.read('outage');
    expect(records.map((r) => r.type)).toEqual(['admin.request', 'audit.gap', ...Array(10).fill('admin.request')]);
    expect(records[1]?.data).toMatchObject({ lost: 5, reason: 'buffer-full' });
    expect(records.slice(2).map((r) => r.data.i)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await audit.verify('outage')).toMatchObject({ ok: true, records: 12 });
  });

  it('restores pub/sub subscriptions after a reconnect', async () => {
    const proxy = await redisProxy();
    const store = new RedisStore({ url: proxy.url, keyPrefix: keys.prefix, maxReconnectDelayMs: 100 });
    const publisher = new RedisStore({ url: REDIS_URL, keyPrefix: keys.prefix });
    cleanups.push(async () => {
      await store.close();
      await publisher.close();
      await proxy.close();
    });
    await Promise.all([store.ready(), publisher.ready()]);
    const got: string[] = [];
    await store.subscribe('subs', 'changes', (m) => got.push(m));
    await proxy.cut();
    await eventually(() => !store.available(), 3000, 'store down');
    await proxy.restore();
    await eventually(() => store.available(), 5000, 'store up');
    await eventually(async () => {
      await publisher.publish('subs', 'changes', 'after');
      return got.includes('after');
    }, 5000, 'message after reconnect');
  });
});
