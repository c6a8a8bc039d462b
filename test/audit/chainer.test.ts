import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerChainer } from '../../src/audit/chainer.js';
import { decisionEncoded, decisionRow, type DecisionRow } from '../../src/audit/decision-row.js';
import { AuditLog } from '../../src/audit/log.js';
import { chainBatch, encodeEvent, GENESIS_HASH, type EncodedEvent } from '../../src/audit/record.js';
import type { Decision } from '../../src/policy/decision.js';
import { MemoryStore } from '../../src/state/memory.js';
import { capturedLogger } from './helpers.js';

const decision: Decision = { decision: 'deny', reason: 'blocked', policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', decisionId: 'd-1', matched: [{ policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', effect: 'deny' }], status: 403 };
const row = (i: number): DecisionRow =>
  decisionRow({ ...decision, decisionId: `d-${i}` }, { hook: 'egress', tenant: 'acme', agent: { name: 'bot', labels: {} }, destination: { host: 'api.example.com', port: 443 }, request: { method: 'GET', path: '/x?q=1' } }, 'authz_http', 1_700_000_000_000 + i);
const items = (n: number): EncodedEvent[] =>
  Array.from({ length: n }, (_, i) =>
    i % 3 === 2
      ? encodeEvent({ tenant: 'acme', type: 'policy.apply', actor: { type: 'operator', id: 'alice' }, data: { files: [`p${i}.yaml`], note: 'ünïcode "quoted"\n' } }, 1_700_000_000_000 + i)
      : decisionEncoded(row(i)),
  );

let chainer: WorkerChainer | undefined;
afterEach(async () => {
  await chainer?.close();
  chainer = undefined;
});

describe('audit chain worker', () => {
  it('gives byte-identical records to chaining inline', async () => {
    chainer = new WorkerChainer();
    const batch = items(40);
    const inline = chainBatch(batch, 7, 'c'.repeat(64), 1);
    expect(await chainer.chain(batch, 7, 'c'.repeat(64), 1)).toEqual(inline);
    expect(inline.texts).toHaveLength(40);
  });

  it('fails only the batch an item cannot join (the worker goes on), and that batch fails inline too', async () => {
    chainer = new WorkerChainer();
    const bad = [{ ...encodeEvent({ tenant: 'acme', type: 'approval', actor: { type: 'system', id: 'x' }, data: {} }, 0), time: Number.NaN }];
    expect(() => chainBatch(bad, 1, GENESIS_HASH, Number.NaN)).toThrow(RangeError);
    await expect(chainer.chain(bad, 1, GENESIS_HASH, Number.NaN)).rejects.toThrow(/Invalid time/);
    expect(await chainer.chain(items(2), 1, GENESIS_HASH, 0)).toEqual(chainBatch(items(2), 1, GENESIS_HASH, 0));
  });

  it('when the worker dies, batches in flight and later ones are chained inline, logged once, nothing lost', async () => {
    const { log, lines } = capturedLogger();
    chainer = new WorkerChainer(log);
    const audit = new AuditLog({ store: new MemoryStore(), chainer });
    for (let i = 0; i < 20; i++) audit.recordDecision(row(i));
    expect(await audit.flush()).toBe(true);
    // Kill the worker from outside, as a crash would.
    const worker = (chainer as unknown as { worker: Worker }).worker;
    await worker.terminate();
    for (let i = 0; i < 20; i++) audit.recordDecision(row(i));
    expect(await audit.flush()).toBe(true);
    expect(await audit.verify('acme')).toMatchObject({ ok: true, records: 40 });
    expect(lines().filter((l) => /chain worker failed/.test(String(l.msg)))).toHaveLength(1);
  });
});

describe('batch window', () => {
  it('events recorded over several turns within the window go to the chainer as one batch; flush does not wait for the window', async () => {
    const calls: number[] = [];
    const counting = { chain: (items: readonly EncodedEvent[], seq: number, prev: string, now: number) => (calls.push(items.length), chainBatch(items, seq, prev, now)), close: () => Promise.resolve() };
    const audit = new AuditLog({ store: new MemoryStore(), chainer: counting, batchWindowMs: 200 });
    const rows = Array.from({ length: 62 }, (_, i) => row(i));
    for (let turn = 0; turn < 3; turn++) {
      for (const row of rows.slice(turn * 20, turn * 20 + 20)) audit.recordDecision(row);
      await new Promise((r) => setImmediate(r));
    }
    expect(calls).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toEqual([60]);
    audit.recordDecision(rows[60]!);
    expect(await audit.flush(100)).toBe(true); // well inside the 200 ms window
    expect(calls).toEqual([60, 1]);
    expect(await audit.verify('acme')).toMatchObject({ ok: true, records: 61 });
  });
});
