import { PassThrough } from 'node:stream';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { decisionRow } from '../../src/audit/decision-row.js';
import { ENTRY, eventEntry, secretEntry, type EntryTaker } from '../../src/audit/entries.js';
import { EntryEncoder, lengthAt, lengthTo, type EntryValue } from '../../src/audit/entry-codec.js';
import { AuditLog } from '../../src/audit/log.js';
import { encodeEvent, type AuditEvent } from '../../src/audit/record.js';
import { ForwardingAudit, receiveAudit } from '../../src/cluster/audit-forward.js';
import type { DecisionContext } from '../../src/context/types.js';
import { createRedactor, rememberingRedactor } from '../../src/log.js';
import type { Decision } from '../../src/policy/decision.js';
import { KnownSecrets } from '../../src/secrets/known.js';
import { MemoryStore } from '../../src/state/memory.js';
import { capturedLogger } from '../audit/helpers.js';

const T0 = 1_700_000_000_000;
const decision: Decision = { decision: 'deny', reason: 'blocked', policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', decisionId: 'd-1', matched: [{ policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', effect: 'deny' }], status: 403 };
const SECRET = 'sk-proj-' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6';
const decisionOf = (i: number): Decision => ({ ...decision, decisionId: `d-${i}` });
const ctxOf = (i: number, tenant = 'acme', agent = i === 3 ? `bot ${SECRET}` : 'bot'): DecisionContext => ({
  hook: 'egress',
  tenant,
  agent: { name: agent, labels: {} },
  destination: { host: 'api.example.com', port: 443 },
  request: { method: 'GET', path: '/x?q=1' },
});
const event = (i: number): AuditEvent => ({ tenant: 'acme', type: 'approval', actor: { type: 'agent', id: 'bot' }, data: { action: 'grant.used', token: SECRET, n: i, note: 'ünïcode ✓ 🙂' }, time: T0 + i });
const redact = createRedactor({ patterns: {} });

/** A worker's pipe as the primary reads it (bytes arrive as Buffers, in chunks) into a log of its own. */
function primaryReading(known = new KnownSecrets()) {
  const p = new PassThrough();
  const store = new MemoryStore();
  const audit = new AuditLog({ store });
  const taker: EntryTaker = { audit, redact: rememberingRedactor(createRedactor({ patterns: {}, known }), known), known };
  const bad: [number, string][] = [];
  return { p, store, audit, bad, read: receiveAudit(p, taker, (n, why) => bad.push([n, why])) };
}

/** Entries framed as a worker frames them (two units of length, then the entry's units). */
function frames(...entries: EntryValue[]): Buffer {
  const enc = new EntryEncoder(1 << 20);
  const parts: Buffer[] = [];
  for (const e of entries) {
    enc.begin();
    enc.value(e);
    const units = enc.units();
    const framed = new Uint16Array(2 + units.length);
    lengthTo(framed, 0, units.length);
    framed.set(units, 2);
    parts.push(Buffer.from(framed.buffer));
    enc.taken();
  }
  return Buffer.concat(parts);
}

const stored = async (store: MemoryStore, tenant = 'acme') => (await store.read(tenant, 'audit', 1, 100)).map((e) => e.value);
const parsed = async (store: MemoryStore, tenant = 'acme') => (await stored(store, tenant)).map((t) => JSON.parse(t) as { type: string; actor: { id: string }; data: Record<string, unknown> });

describe('audit entries from serve --workers workers', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['Date'] }));
  afterEach(() => vi.useRealTimers());

  it('reach the primary’s chain byte-identical to recording them in one process, in order, redacted', async () => {
    const items = (record: (i: number) => void) => {
      for (let i = 0; i < 20; i++) {
        vi.setSystemTime(T0 + i);
        record(i);
      }
    };
    const direct = new MemoryStore();
    const inProcess = new AuditLog({ store: direct, redact });
    items((i) => (i % 4 === 1 ? inProcess.record(event(i)) : inProcess.recordDecision(decisionRow(decisionOf(i), ctxOf(i), 'authz_http', T0 + i, 'default', redact))));
    await inProcess.close();

    const { p, store, audit, bad, read } = primaryReading();
    const forward = new ForwardingAudit(p, { redact, windowMs: 5, maxBatch: 8, known: new KnownSecrets() });
    items((i) => (i % 4 === 1 ? forward.record(event(i)) : forward.recordDecisionOf(decisionOf(i), ctxOf(i), 'authz_http', 'default')));
    await forward.close();
    p.end();
    await read;
    await audit.close();
    const texts = await stored(store);
    expect(texts).toHaveLength(20);
    expect(texts).toEqual(await stored(direct));
    expect(texts.join('\n')).not.toContain(SECRET);
    expect((await audit.verify('acme')).ok).toBe(true);
    expect(bad).toEqual([]);
  });

  it('pass on the secret values the worker knows and learns, so the primary redacts rows carrying them', async () => {
    const workerKnown = new KnownSecrets();
    const early = 'early-secret-value-0001';
    const later = 'later-secret-value-0002';
    workerKnown.add(early);
    const primaryKnown = new KnownSecrets();
    const { p, store, audit, bad, read } = primaryReading(primaryKnown);
    const forward = new ForwardingAudit(p, { redact, windowMs: 5, known: workerKnown });
    forward.recordDecisionOf(decisionOf(1), ctxOf(1, 'acme', `bot ${early}`), 'authz_http', 'default');
    workerKnown.add(later);
    forward.recordDecisionOf(decisionOf(2), ctxOf(2, 'acme', `bot ${later}`), 'authz_http', 'default');
    await forward.close();
    workerKnown.add('after-close-value-0003');
    p.end();
    await read;
    await audit.close();
    const text = (await stored(store)).join('\n');
    expect(text).not.toContain(early);
    expect(text).not.toContain(later);
    expect((await parsed(store)).map((r) => (r.data.agent as { name: string }).name)).toEqual(['bot [REDACTED:SECRET]', 'bot [REDACTED:SECRET]']);
    expect(primaryKnown.held()).toEqual([early, later]);
    expect(bad).toEqual([]);
  });

  it('sends a batch after the window without a flush, and at once when it is full', async () => {
    vi.useRealTimers();
    const batches: number[] = [];
    const out = { writableLength: 0, write: (bytes: Uint8Array, written: () => void) => (batches.push(entriesIn(bytes)), setImmediate(written), true) };
    const forward = new ForwardingAudit(out, { redact, windowMs: 20, maxBatch: 4, known: new KnownSecrets() });
    for (let i = 0; i < 6; i++) forward.recordDecisionOf(decisionOf(i), ctxOf(i), 'authz_http', 'default');
    await new Promise((r) => setTimeout(r, 5));
    expect(batches).toEqual([4]);
    await new Promise((r) => setTimeout(r, 40));
    expect(batches).toEqual([4, 2]);
  });

  it('sends a decision that repeats the one before in far fewer bytes than the first', async () => {
    const sizes: number[] = [];
    const out = { writableLength: 0, write: (bytes: Uint8Array, written: () => void) => (sizes.push(bytes.length), written(), true) };
    const forward = new ForwardingAudit(out, { redact, maxBatch: 1, known: new KnownSecrets() });
    forward.recordDecisionOf(decisionOf(1), ctxOf(1), 'authz_http', 'default');
    forward.recordDecisionOf(decisionOf(2), ctxOf(2), 'authz_http', 'default');
    // The second repeats every string but its decision id.
    expect(sizes[1]).toBeLessThan(sizes[0] as number);
    expect(sizes[1]).toBeLessThan(200);
  });

  it('leaves out entries of the wrong shape and a last one cut short, says why, and records the rest', async () => {
    const { p, store, audit, bad, read } = primaryReading();
    const good = eventEntry(encodeEvent(event(1), T0));
    const [, payload] = good as [number, EntryValue[]];
    p.write(
      frames(
        good,
        [ENTRY.event, ['ac:me', ...payload.slice(1)]],
        [ENTRY.event, [payload[0], 'nope', ...payload.slice(2)]],
        [ENTRY.event, payload.slice(0, 4)],
        [ENTRY.rawDecision, ['not', 'a', 'row']],
        [ENTRY.secret, 42],
        [9, 'x'],
        'not a pair',
        good,
      ),
    );
    await new Promise((r) => setImmediate(r));
    // A frame whose units hold an unknown tag, then one cut short.
    const junk = Buffer.from(new Uint16Array([3, 0, 99, 99, 99]).buffer);
    const whole = frames(good);
    p.end(Buffer.concat([junk, whole.subarray(0, whole.length - 4)]));
    await read;
    await audit.close();
    expect(bad.map(([n]) => n)).toEqual([7, 1, 1]);
    expect(bad[0]?.[1]).toMatch(/not a \[kind, payload\] pair|kind|tenant|row|string|object/);
    expect(bad[1]?.[1]).toMatch(/unknown value tag 99/);
    expect(bad[2]?.[1]).toMatch(/cut short/);
    expect((await parsed(store)).map((r) => r.data.n)).toEqual([1, 1]);
  });

  it('stops reading a pipe whose frame is longer than any entry (nothing after it can be framed)', async () => {
    const { p, store, audit, bad, read } = primaryReading();
    p.write(frames(eventEntry(encodeEvent(event(1), T0))));
    p.end(Buffer.concat([Buffer.from(new Uint16Array([0xffff, 0xffff]).buffer), frames(eventEntry(encodeEvent(event(2), T0)))]));
    await read;
    await audit.close();
    expect(bad).toEqual([[1, expect.stringMatching(/longer than any entry/) as string]]);
    expect((await parsed(store)).map((r) => r.data.n)).toEqual([1]);
  });

  it('takes entries split anywhere across chunks, at odd bytes and inside a unit too', async () => {
    vi.useRealTimers();
    const { p, store, audit, bad, read } = primaryReading();
    const entries: EntryValue[] = [secretEntry('a-secret-learned-01')];
    for (let i = 0; i < 5; i++) entries.push(eventEntry(encodeEvent({ ...event(i), actor: { type: 'agent', id: 'bötli ✓ a-secret-learned-01' } }, T0 + i)));
    const bytes = frames(...entries);
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
    const records = await parsed(store);
    expect(records.map((r) => r.data.n)).toEqual([0, 1, 2, 3, 4]);
    // Events arrive encoded and redacted by the worker: the primary chains them as they are.
    expect(records.every((r) => r.actor.id === 'bötli ✓ a-secret-learned-01')).toBe(true);
  });

  it('past maxUnsentBytes counts entries instead of holding them, then records an audit.gap per tenant before anything newer', async () => {
    vi.useRealTimers();
    const { p, store, audit, bad, read } = primaryReading();
    let unsent = 0;
    const out = { get writableLength() { return unsent; }, write: (bytes: Uint8Array, written: () => void) => p.write(bytes, written) };
    const { log, lines } = capturedLogger();
    const registry = new Registry();
    const known = new KnownSecrets();
    const forward = new ForwardingAudit(out, { redact, windowMs: 5, maxBatch: 100, maxUnsentBytes: 1000, log, registry, known });
    forward.recordDecisionOf(decisionOf(0), ctxOf(0), 'authz_http', 'default');
    await forward.flush();
    unsent = 5000; // the primary stopped reading
    for (let i = 1; i <= 5; i++) forward.recordDecisionOf(decisionOf(i), ctxOf(i, i % 2 === 1 ? 'acme' : 'globex'), 'authz_http', 'default');
    // A secret value learned meanwhile is held all the same.
    known.add('learned-while-full-0004');
    await forward.flush();
    unsent = 0; // and reads again
    forward.recordDecisionOf(decisionOf(6), ctxOf(6, 'acme', 'bot learned-while-full-0004'), 'authz_http', 'default');
    await forward.close();
    p.end();
    await read;
    await audit.close();
    expect(bad).toEqual([]);
    const acme = await parsed(store);
    expect(acme.map((r) => r.type)).toEqual(['decision', 'audit.gap', 'decision']);
    expect(acme.map((r) => r.data.decisionId)).toEqual(['d-0', undefined, 'd-6']);
    expect(acme[1]?.data).toMatchObject({ lost: 3, reason: 'worker-buffer-full' });
    expect(acme[2]?.data.agent).toEqual({ name: 'bot [REDACTED:SECRET]' });
    const globex = await parsed(store, 'globex');
    expect(globex.map((r) => [r.type, r.data.lost])).toEqual([['audit.gap', 2]]);
    expect((await audit.verify('acme')).ok).toBe(true);
    expect(lines().filter((l) => /not taking audit records/.test(String(l.msg)))).toHaveLength(1);
    expect((await registry.getSingleMetric('joch_audit_overflow_total')?.get())?.values[0]?.value).toBe(5);
  });

  it('records the gap even when nothing newer comes once the pipe takes entries again', async () => {
    vi.useRealTimers();
    const { p, store, audit, read } = primaryReading();
    let unsent = 5000;
    const out = { get writableLength() { return unsent; }, write: (bytes: Uint8Array, written: () => void) => p.write(bytes, written) };
    const forward = new ForwardingAudit(out, { redact, windowMs: 5, maxUnsentBytes: 1000, known: new KnownSecrets() });
    forward.recordDecisionOf(decisionOf(1), ctxOf(1), 'authz_http', 'default');
    await new Promise((r) => setTimeout(r, 20));
    unsent = 0;
    await new Promise((r) => setTimeout(r, 30));
    p.end();
    await read;
    await audit.close();
    expect((await parsed(store)).map((r) => [r.type, r.data.lost])).toEqual([['audit.gap', 1]]);
  });
});

/** How many framed entries a batch holds. */
function entriesIn(bytes: Uint8Array): number {
  const units = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  let n = 0;
  for (let at = 0; at < units.length; n++) at += 2 + lengthAt(units, at);
  return n;
}
