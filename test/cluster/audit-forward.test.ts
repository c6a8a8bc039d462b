import { describe, expect, it } from 'vitest';
import { decisionRow } from '../../src/audit/decision-row.js';
import { AuditLog } from '../../src/audit/log.js';
import type { AuditEvent } from '../../src/audit/record.js';
import { PassThrough } from 'node:stream';
import { ForwardingAudit, receiveAudit } from '../../src/cluster/audit-forward.js';
import { createRedactor } from '../../src/log.js';
import type { Decision } from '../../src/policy/decision.js';
import { MemoryStore } from '../../src/state/memory.js';
import { Registry } from 'prom-client';
import { capturedLogger } from '../audit/helpers.js';

const decision: Decision = { decision: 'deny', reason: 'blocked', policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', decisionId: 'd-1', matched: [{ policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', effect: 'deny' }], status: 403 };
const SECRET = 'sk-proj-' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6';
const row = (i: number, tenant = 'acme') =>
  decisionRow({ ...decision, decisionId: `d-${i}` }, { hook: 'egress', tenant, agent: { name: i === 3 ? `bot ${SECRET}` : 'bot', labels: {} }, destination: { host: 'api.example.com', port: 443 }, request: { method: 'GET', path: '/x?q=1' } }, 'authz_http', 1_700_000_000_000 + i, 'default', redact);
const event = (i: number): AuditEvent => ({ tenant: 'acme', type: 'approval', actor: { type: 'agent', id: 'bot' }, data: { action: 'grant.used', token: SECRET, n: i, note: 'ünïcode ✓ 🙂' }, time: 1_700_000_000_000 + i });
const redact = createRedactor({ patterns: {} });

/** Records the same items straight into a log of its own, as one process would. */
async function direct(): Promise<string[]> {
  const store = new MemoryStore();
  const audit = new AuditLog({ store, redact });
  for (let i = 0; i < 20; i++) i % 4 === 1 ? audit.record(event(i)) : audit.recordDecision(row(i));
  await audit.close();
  return (await store.read('acme', 'audit', 1, 100)).map((e) => e.value);
}

/** A worker's pipe as the primary reads it (text arrives as Buffers, in chunks) into a log of its own. */
function primaryReading() {
  const p = new PassThrough();
  const store = new MemoryStore();
  const audit = new AuditLog({ store });
  const bad: number[] = [];
  return { p, store, audit, bad, read: receiveAudit(p, audit, (n) => bad.push(n)) };
}
const GOOD = 'acme\tdecision\t1700000000000\t{"id":"bot","type":"agent"}\t{}\n';

describe('audit records from serve --workers workers', () => {
  it('reach the primary’s chain byte-identical to recording them in one process, in order, redacted', async () => {
    const { p, store, audit, bad, read } = primaryReading();
    const forward = new ForwardingAudit(p, { redact, windowMs: 5, maxBatch: 8 });
    for (let i = 0; i < 20; i++) i % 4 === 1 ? forward.record(event(i)) : forward.recordDecision(row(i));
    await forward.flush();
    p.end();
    await read;
    await audit.close();
    const texts = (await store.read('acme', 'audit', 1, 100)).map((e) => e.value);
    expect(texts).toHaveLength(20);
    expect(texts).toEqual(await direct());
    expect(texts.join('\n')).not.toContain(SECRET);
    expect((await audit.verify('acme')).ok).toBe(true);
    expect(bad).toEqual([]);
  });

  it('sends a batch after the window without a flush, and at once when it is full', async () => {
    const batches: number[] = [];
    const out = { writableLength: 0, write: (bytes: Uint8Array, written: () => void) => (batches.push(bytes.filter((b) => b === 0x0a).length), setImmediate(written), true) };
    const forward = new ForwardingAudit(out, { redact, windowMs: 20, maxBatch: 4 });
    for (let i = 0; i < 6; i++) forward.recordDecision(row(i));
    await new Promise((r) => setTimeout(r, 5));
    expect(batches).toEqual([4]);
    await new Promise((r) => setTimeout(r, 40));
    expect(batches).toEqual([4, 2]);
  });

  it('leaves out items of the wrong shape and a last line cut short, and reports how many', async () => {
    const { p, store, audit, bad, read } = primaryReading();
    // A bad time, a tenant that is not a name, an unknown type, a missing field; then a line the worker did not finish.
    p.write(`${GOOD}acme\tdecision\tsoon\t{}\t{}\nac:me\tdecision\t1\t{}\t{}\nacme\tnope\t1\t{}\t{}\nacme\tdecision\t1\t{}\n`);
    p.end(GOOD.slice(0, 20));
    await read;
    await audit.close();
    expect(bad).toEqual([4, 1]);
    expect(await store.length('acme', 'audit')).toBe(1);
  });

  it('takes lines split anywhere across chunks, inside a UTF-8 character too', async () => {
    const { p, store, audit, bad, read } = primaryReading();
    const line = (i: number) => `acme\tdecision\t${1_700_000_000_000 + i}\t{"id":"bötli ✓","type":"agent"}\t{"n":${i}}\n`;
    const bytes = Buffer.from(Array.from({ length: 5 }, (_, i) => line(i)).join(''), 'utf8');
    // Every cut, one byte at a time at first, so a cut falls inside "ö" and "✓".
    for (let at = 0; at < bytes.length; ) {
      const size = at < 80 ? 1 : 37;
      p.write(bytes.subarray(at, at + size));
      at += size;
      await new Promise((r) => setImmediate(r));
    }
    p.end();
    await read;
    await audit.close();
    expect(bad).toEqual([]);
    const records = (await store.read('acme', 'audit', 1, 10)).map((e) => JSON.parse(e.value) as { actor: { id: string }; data: { n: number } });
    expect(records.map((r) => r.data.n)).toEqual([0, 1, 2, 3, 4]);
    expect(records.every((r) => r.actor.id === 'bötli ✓')).toBe(true);
  });

  it('past maxUnsentBytes counts items instead of holding them, then records an audit.gap per tenant before anything newer', async () => {
    const { p, store, audit, bad, read } = primaryReading();
    let unsent = 0;
    const out = { get writableLength() { return unsent; }, write: (bytes: Uint8Array, written: () => void) => p.write(bytes, written) };
    const { log, lines } = capturedLogger();
    const registry = new Registry();
    const forward = new ForwardingAudit(out, { redact, windowMs: 5, maxBatch: 100, maxUnsentBytes: 1000, log, registry });
    forward.recordDecision(row(0));
    await forward.flush();
    unsent = 5000; // the primary stopped reading
    for (let i = 1; i <= 5; i++) forward.recordDecision(row(i, i % 2 === 1 ? 'acme' : 'globex'));
    await forward.flush();
    unsent = 0; // and reads again
    forward.recordDecision(row(6));
    await forward.flush();
    p.end();
    await read;
    await audit.close();
    expect(bad).toEqual([]);
    const acme = (await store.read('acme', 'audit', 1, 10)).map((e) => JSON.parse(e.value) as { type: string; data: { decisionId?: string; lost?: number; reason?: string } });
    expect(acme.map((r) => r.type)).toEqual(['decision', 'audit.gap', 'decision']);
    expect(acme.map((r) => r.data.decisionId)).toEqual(['d-0', undefined, 'd-6']);
    expect(acme[1]?.data).toMatchObject({ lost: 3, reason: 'worker-buffer-full' });
    const globex = (await store.read('globex', 'audit', 1, 10)).map((e) => JSON.parse(e.value) as { type: string; data: { lost?: number } });
    expect(globex.map((r) => [r.type, r.data.lost])).toEqual([['audit.gap', 2]]);
    expect((await audit.verify('acme')).ok).toBe(true);
    expect(lines().filter((l) => /not taking audit records/.test(String(l.msg)))).toHaveLength(1);
    expect((await registry.getSingleMetric('joch_audit_overflow_total')?.get())?.values[0]?.value).toBe(5);
  });

  it('records the gap even when nothing newer comes once the pipe takes text again', async () => {
    const { p, store, audit, read } = primaryReading();
    let unsent = 5000;
    const out = { get writableLength() { return unsent; }, write: (bytes: Uint8Array, written: () => void) => p.write(bytes, written) };
    const forward = new ForwardingAudit(out, { redact, windowMs: 5, maxUnsentBytes: 1000 });
    forward.recordDecision(row(1));
    await new Promise((r) => setTimeout(r, 20));
    unsent = 0;
    await new Promise((r) => setTimeout(r, 30));
    p.end();
    await read;
    await audit.close();
    const records = (await store.read('acme', 'audit', 1, 10)).map((e) => JSON.parse(e.value) as { type: string; data: { lost?: number } });
    expect(records.map((r) => [r.type, r.data.lost])).toEqual([['audit.gap', 1]]);
  });
});
