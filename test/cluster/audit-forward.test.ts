import { describe, expect, it } from 'vitest';
import { decisionRow } from '../../src/audit/decision-row.js';
import { AuditLog } from '../../src/audit/log.js';
import type { AuditEvent } from '../../src/audit/record.js';
import { PassThrough } from 'node:stream';
import { ForwardingAudit, receiveAudit } from '../../src/cluster/audit-forward.js';
import { createRedactor } from '../../src/log.js';
import type { Decision } from '../../src/policy/decision.js';
import { MemoryStore } from '../../src/state/memory.js';

const decision: Decision = { decision: 'deny', reason: 'blocked', policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', decisionId: 'd-1', matched: [{ policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', effect: 'deny' }], status: 403 };
const SECRET = 'sk-proj-' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6';
const row = (i: number, tenant = 'acme') =>
  decisionRow({ ...decision, decisionId: `d-${i}` }, { hook: 'egress', tenant, agent: { name: i === 3 ? `bot ${SECRET}` : 'bot', labels: {} }, destination: { host: 'api.example.com', port: 443 }, request: { method: 'GET', path: '/x?q=1' } }, 'authz_http', 1_700_000_000_000 + i, 'default', redact);
const event = (i: number): AuditEvent => ({ tenant: 'acme', type: 'approval', actor: { type: 'agent', id: 'bot' }, data: { action: 'grant.used', token: SECRET, n: i }, time: 1_700_000_000_000 + i });
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
    const forward = new ForwardingAudit(p, redact, 5, 8);
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
    const out = { write: (text: string, _e: BufferEncoding, written: () => void) => (batches.push(text.split('\n').length - 1), setImmediate(written), true) };
    const forward = new ForwardingAudit(out, redact, 20, 4);
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
});
