import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { GENESIS_HASH, type AuditEvent, type AuditRecord } from '../../src/audit/record.js';
import { AuditDecisionRecorder, RawDecisionRecorder } from '../../src/audit/recorder.js';
import { AuditThread, type AuditThreadSettings } from '../../src/audit/thread.js';
import type { DecisionContext } from '../../src/context/types.js';
import { JochError } from '../../src/errors.js';
import { createRedactor } from '../../src/log.js';
import type { Decision } from '../../src/policy/decision.js';
import { KnownSecrets, knownSecrets } from '../../src/secrets/known.js';
import { MemoryStore } from '../../src/state/memory.js';
import { RedisStore } from '../../src/state/redis.js';
import { eventually, REDIS_URL, testPrefix } from '../state/redis-helpers.js';
import { capturedLogger } from './helpers.js';

// Built from parts so that no secret-shaped literal sits in the source.
const GITHUB_TOKEN = ['ghp', 'R8qNw2Lk5Tz0Xv7Bc3Mh9Dp4Jf6Sa1Gy2Ue8'].join('_');
const OPENAI_KEY = ['sk', 'proj4Hq9ZxR2mT7vLw3Nc8Bd1Ks6Pf0Yg5Ju'].join('-');

const BASE: AuditThreadSettings = { store: { kind: 'memory' }, maxBuffered: 100_000, maxHeldInMemory: 100_000, batchSize: 512, redaction: {}, logLevel: 'debug' };
/** The serving thread's redactor (events are encoded with it before they go through the ring). */
const redact = createRedactor({});

const keys = testPrefix();
const running: AuditThread[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const t of running.splice(0)) await t.close();
});
afterAll(async () => {
  await keys.cleanup();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function start(settings: Partial<AuditThreadSettings> = {}): Promise<{ thread: AuditThread; recorder: RawDecisionRecorder; registry: Registry; lines: () => Record<string, unknown>[] }> {
  const { log, lines } = capturedLogger();
  const registry = new Registry();
  const thread = new AuditThread({ ...BASE, ...settings }, log, registry, redact);
  running.push(thread);
  await thread.whenReady();
  return { thread, recorder: new RawDecisionRecorder(thread), registry, lines };
}

const workerOf = (thread: AuditThread): Worker => (thread as unknown as { worker: Worker }).worker;
const counter = async (registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> => {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x) && Object.keys(v.labels).length === Object.keys(labels).length)?.value;
};
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

const base: Decision = { decision: 'deny', reason: 'blocked', policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', decisionId: 'd-0', matched: [{ policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', effect: 'deny' }] };
const d = (decisionId: string, more: Partial<Decision> = {}): Decision => ({ ...base, decisionId, ...more });
const egress = (tenant: string): DecisionContext => ({ hook: 'egress', tenant, destination: { host: 'api.example.com', port: 443 } });

/** Decisions of every shape the row has, some with secret-shaped strings in agent-supplied fields. */
const CASES: [Decision, DecisionContext | undefined, string][] = [
  [
    d('d-1'),
    { hook: 'toolCallRequest', tenant: 'acme', namespace: 'payments', environment: 'prod', agent: { id: 'agent-7', name: 'builder', framework: 'langgraph', labels: { team: 'a' } }, session: { id: 's-1' }, turnId: 't-1', stepId: 'st-1', tool: { name: 'shell', server: 'local', sideEffect: 'write', arguments: { cmd: 'ls' } }, payload: { x: 1 } },
    'authz_http',
  ],
  [
    d('d-2', { decision: 'allow', reason: 'no-rule-matched', policyId: null, policyNamespace: null, ruleId: null, matched: [] }),
    { hook: 'egress', tenant: 'acme', destination: { host: 'api.example.com', port: 443, scheme: 'https', sni: 'api.example.com', address: '10.0.0.1' }, request: { method: 'GET', path: '/v1/items?token=abc', headers: { authorization: 'Bearer abc' } } },
    'authz_network',
  ],
  [
    d('d-3', { decision: 'modify', modifiedRequest: { headers: { set: { 'x-joch': '1' }, remove: ['cookie'] }, payload: { y: 2 } }, status: 200 }),
    { hook: 'message', tenant: 'globex', model: { provider: 'openai', name: 'gpt-4o' }, mcp: { server: 'files', method: 'tools/call', direction: 'outbound' } },
    'http_service',
  ],
  [
    d('d-4', {
      decision: 'allow',
      findings: {
        types: [{ type: 'EMAIL', class: 'pii', count: 2, score: 0.9 }],
        listed: [
          { type: 'EMAIL', class: 'pii', detector: 'pii.email', path: '/messages/0/content', start: 3, end: 20, score: 0.9, policyId: 'p', ruleId: 'annotate-pii' },
          { type: 'EMAIL', class: 'pii', detector: 'pii.email', path: `/k/${GITHUB_TOKEN}`, start: 0, end: 5, score: 0.8, policyId: 'p', ruleId: 'annotate-pii' },
        ],
      },
    }),
    { hook: 'toolCallResult', tenant: 'globex', agent: { name: 'reader' } },
    'authz_http',
  ],
  [d('d-5', { pending: { approval: 'human' }, status: 403 }), undefined, 'http_service'],
  [d('d-6'), { hook: 'egress', tenant: `Not A Tenant! ${'x'.repeat(200)}` }, 'authz_network'],
  // Secret-shaped strings where the agent supplies them: redacted in the stored record.
  [d('d-7'), { hook: 'egress', tenant: 'acme', agent: { id: OPENAI_KEY }, request: { method: 'POST', path: `/repos/x/${GITHUB_TOKEN}/pulls?q=1` } }, 'authz_http'],
  [d('d-8'), { hook: 'egress', tenant: 'acme', agent: { id: OPENAI_KEY }, request: { method: 'POST', path: `/repos/x/${GITHUB_TOKEN}/pulls?q=1` } }, 'authz_http'],
];
const EVENTS: AuditEvent[] = [
  { tenant: 'acme', type: 'policy.apply', actor: { type: 'operator', id: 'alice' }, data: { files: ['a.yaml'], note: `token ${GITHUB_TOKEN}` } },
  { tenant: 'globex', type: 'admin.request', actor: { type: 'operator', id: 'bob' }, data: { method: 'GET', path: '/admin/policies' } },
];

/** What both paths must agree on (times, hashes and so prevHashes are the writer's own). */
const essence = (r: AuditRecord): unknown => ({ seq: r.seq, tenant: r.tenant, type: r.type, actor: r.actor, data: r.data });

describe('audit thread (memory store)', () => {
  it('records decisions and events in order, chained, with the same records as the in-process log', async () => {
    const { thread, recorder } = await start();
    const inline = new AuditLog({ store: new MemoryStore(), redact });
    const inlineRecorder = new AuditDecisionRecorder(inline, 'default', redact);
    const items = [...CASES.slice(0, 3), EVENTS[0] as AuditEvent, ...CASES.slice(3), EVENTS[1] as AuditEvent];
    for (const item of items) {
      if (Array.isArray(item)) {
        recorder.recordDecision(...item);
        inlineRecorder.recordDecision(...item);
      } else {
        thread.record(item);
        inline.record(item);
      }
      await turn(); // the in-process recorder moves decisions a turn later; keep both orders the same
    }
    expect(await thread.flush()).toBe(true);
    expect(await inline.flush()).toBe(true);

    const acme = await thread.read('acme');
    expect(acme.map((r) => r.data.decisionId ?? r.type)).toEqual(['d-1', 'd-2', 'policy.apply', 'd-7', 'd-8']);
    expect(acme.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(acme[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < acme.length; i++) expect(acme[i]?.prevHash).toBe(acme[i - 1]?.hash);
    expect((await thread.read('globex')).map((r) => r.data.decisionId ?? r.type)).toEqual(['d-3', 'd-4', 'admin.request']);
    expect((await thread.read('default')).map((r) => r.data.decisionId)).toEqual(['d-5', 'd-6']);

    for (const tenant of ['acme', 'globex', 'default']) {
      expect(await thread.verify(tenant)).toMatchObject({ ok: true });
      const [fromThread, fromInline] = [await thread.read(tenant), await inline.read(tenant)];
      expect(fromThread.map(essence)).toEqual(fromInline.map(essence));
    }
    expect(await thread.head('acme')).toEqual({ seq: 5, hash: acme[4]?.hash });

    // Spot checks of what the row keeps, so that "equal" is not "equally wrong".
    expect(acme[0]?.data).toEqual({
      agent: { framework: 'langgraph', id: 'agent-7', name: 'builder' },
      decision: 'deny',
      decisionId: 'd-1',
      edge: 'authz_http',
      environment: 'prod',
      hook: 'toolCallRequest',
      matched: base.matched,
      namespace: 'payments',
      policyId: 'p',
      policyNamespace: 'ns',
      policyVersion: 'v2',
      reason: 'blocked',
      ruleId: 'r',
      session: 's-1',
      stepId: 'st-1',
      tool: { name: 'shell', server: 'local', sideEffect: 'write' },
      turnId: 't-1',
    });
    expect(acme[1]?.data.request).toEqual({ method: 'GET', path: '/v1/items' });
    const fallback = await thread.read('default');
    expect(fallback[1]?.data.claimedTenant).toBe(`Not A Tenant! ${'x'.repeat(200)}`.slice(0, 128));
    expect(fallback[0]?.data.pending).toEqual({ approval: 'human' });
  });

  it('redacts secret-shaped strings in agent-supplied fields on the thread', async () => {
    const { thread, recorder } = await start();
    for (const c of CASES) recorder.recordDecision(...c);
    thread.record(EVENTS[0] as AuditEvent);
    expect(await thread.flush()).toBe(true);
    const acme = await thread.read('acme');
    const secretive = acme.filter((r) => r.data.decisionId === 'd-7' || r.data.decisionId === 'd-8');
    expect(secretive).toHaveLength(2); // the second repeats every string of the first
    for (const r of secretive) {
      expect(r.actor).toEqual({ id: '[REDACTED:OPENAI_API_KEY]', type: 'agent' });
      expect(r.data.agent).toEqual({ id: '[REDACTED:OPENAI_API_KEY]' });
      expect(r.data.request).toEqual({ method: 'POST', path: '/repos/x/[REDACTED:GITHUB_TOKEN]/pulls' });
    }
    expect(acme.find((r) => r.type === 'policy.apply')?.data.note).toBe('token [REDACTED:GITHUB_TOKEN]');
    const globex = await thread.read('globex');
    expect((globex.find((r) => r.data.decisionId === 'd-4')?.data.findings as { listed: { path: string }[] }).listed.map((f) => f.path)).toEqual(['/messages/0/content', '/k/[REDACTED:GITHUB_TOKEN]']);
    const all = JSON.stringify([acme, globex, await thread.read('default')]);
    expect(all).not.toContain(GITHUB_TOKEN);
    expect(all).not.toContain(OPENAI_KEY);
    expect(await thread.verify('acme')).toMatchObject({ ok: true, records: 5 });
  });

  it('redacts a secret value the process learns after the thread started (it travels through the ring ahead of decisions)', async () => {
    const { thread, recorder } = await start();
    const value = `qv${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
    expect(value.length).toBeGreaterThanOrEqual(12);
    expect(createRedactor({ known: new KnownSecrets() })(`/v1/${value}/run bot-${value}`)).toBe(`/v1/${value}/run bot-${value}`); // no detector flags it on its own
    // A decision before the value is known keeps it (nothing to redact yet).
    recorder.recordDecision(d('before'), { hook: 'egress', tenant: 'acme', agent: { name: 'bot' }, request: { method: 'GET', path: '/v1/plain/run' } }, 'authz_http');
    knownSecrets.add(value);
    recorder.recordDecision(d('after'), { hook: 'egress', tenant: 'acme', agent: { name: `bot-${value}` }, request: { method: 'GET', path: `/v1/${value}/run` } }, 'authz_http');
    recorder.recordDecision(d('again'), { hook: 'egress', tenant: 'acme', agent: { name: `bot-${value}` }, request: { method: 'GET', path: `/v1/${value}/run?x=${value}` } }, 'authz_http');
    thread.record({ tenant: 'acme', type: 'secret.rotated', actor: { type: 'system', id: 'broker' }, data: { secret: 'k', value } });
    expect(await thread.flush()).toBe(true);
    const records = await thread.read('acme');
    expect(records.map((r) => r.data.decisionId ?? r.type)).toEqual(['before', 'after', 'again', 'secret.rotated']);
    for (const r of records.slice(1, 3)) {
      expect(r.actor.id).toBe('bot-[REDACTED:SECRET]');
      expect(r.data.agent).toEqual({ name: 'bot-[REDACTED:SECRET]' });
      expect(r.data.request).toEqual({ method: 'GET', path: '/v1/[REDACTED:SECRET]/run' });
    }
    expect(records[3]?.data).toEqual({ secret: 'k', value: '[REDACTED:SECRET]' });
    expect(JSON.stringify(records)).not.toContain(value);
    expect(await thread.verify('acme')).toMatchObject({ ok: true, records: 4 });
  });

  it('counts the records it wrote in the registry it was given', async () => {
    const { thread, recorder, registry } = await start();
    for (let i = 0; i < 7; i++) recorder.recordDecision(d(`m-${i}`), egress(i % 2 ? 'acme' : 'globex'), 'authz_http');
    thread.record(EVENTS[1] as AuditEvent);
    expect(await thread.flush()).toBe(true);
    expect(await counter(registry, 'joch_audit_records_total', { type: 'decision' })).toBe(7);
    expect(await counter(registry, 'joch_audit_records_total', { type: 'admin.request' })).toBe(1);
    expect(await counter(registry, 'joch_audit_overflow_total')).toBe(0);
    expect(await counter(registry, 'joch_audit_buffered')).toBe(0);
    // Counters mirror the thread's by their increase: a second flush adds only what is new.
    recorder.recordDecision(d('m-7'), egress('acme'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    expect(await counter(registry, 'joch_audit_records_total', { type: 'decision' })).toBe(8);
  });

  it('recording after close does not throw; each event is counted in joch_audit_overflow_total', async () => {
    const { thread, recorder, registry, lines } = await start();
    recorder.recordDecision(d('kept'), egress('acme'), 'authz_http');
    await thread.close();
    expect(await counter(registry, 'joch_audit_records_total', { type: 'decision' })).toBe(1);
    expect(() => recorder.recordDecision(d('late-1'), egress('acme'), 'authz_http')).not.toThrow();
    expect(() => thread.record(EVENTS[0] as AuditEvent)).not.toThrow();
    expect(() => recorder.recordDecision(d('late-2'), egress('globex'), 'authz_http')).not.toThrow();
    expect(await counter(registry, 'joch_audit_overflow_total')).toBe(3);
    expect(lines().filter((l) => /audit log closed or its thread stopped/.test(String(l.msg)))).toHaveLength(1); // once per episode
    expect(await thread.flush()).toBe(false);
    await expect(thread.read('acme')).rejects.toMatchObject({ code: 'JOCH_AUDIT_UNAVAILABLE' });
  });

  it('a decision too large for the ring is not thrown at the caller; it is counted as lost', async () => {
    const { thread, recorder, registry } = await start();
    const huge: DecisionContext = { hook: 'toolCallRequest', tenant: 'acme', tool: { name: 'x'.repeat(4_200_000) } };
    expect(() => recorder.recordDecision(d('huge'), huge, 'authz_http')).not.toThrow();
    recorder.recordDecision(d('normal'), egress('acme'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    expect((await thread.read('acme')).map((r) => r.data.decisionId)).toEqual(expect.arrayContaining(['normal']));
    expect(await counter(registry, 'joch_audit_overflow_total')).toBe(1);
  });

  it('takeTouched names the tenants written since the last call; touch marks one again', async () => {
    const { thread, recorder } = await start();
    expect(await thread.takeTouched()).toEqual([]);
    recorder.recordDecision(d('a'), egress('acme'), 'authz_http');
    thread.record(EVENTS[1] as AuditEvent);
    expect(await thread.flush()).toBe(true);
    expect((await thread.takeTouched()).sort()).toEqual(['acme', 'globex']);
    expect(await thread.takeTouched()).toEqual([]);
    thread.touch('x');
    expect(await thread.takeTouched()).toEqual(['x']);
    expect(await thread.takeTouched()).toEqual([]);
  });

  it('read, verify and head of an invalid tenant fail with the same JochError code as AuditLog’s', async () => {
    const { thread } = await start();
    const inline = new AuditLog({ store: new MemoryStore() });
    for (const bad of ['bad tenant!', '', '../etc', 'x'.repeat(129)]) {
      const expected = await inline.read(bad).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(expected).toBeInstanceOf(JochError);
      expect((expected as JochError).code).toBe('JOCH_TENANT_INVALID');
      for (const op of [(): Promise<unknown> => thread.read(bad), (): Promise<unknown> => thread.verify(bad), (): Promise<unknown> => thread.head(bad)]) {
        const err = await Promise.resolve().then(op).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(JochError);
        expect((err as JochError).code).toBe((expected as JochError).code);
      }
    }
  });

  it('read, verify and head of an invalid tenant return a rejected promise (as AuditLog’s do), not a synchronous throw', async () => {
    const { thread } = await start();
    for (const op of [(): Promise<unknown> => thread.read('bad tenant!'), (): Promise<unknown> => thread.verify('bad tenant!'), (): Promise<unknown> => thread.head('bad tenant!')]) {
      let result: Promise<unknown> | undefined;
      expect(() => (result = op())).not.toThrow();
      await expect(result).rejects.toMatchObject({ code: 'JOCH_TENANT_INVALID' });
    }
  });
});

describe('audit thread restarts', () => {
  /** Kills the worker from outside and waits until the AuditThread has noticed and answers again. */
  async function kill(thread: AuditThread, lines: () => Record<string, unknown>[]): Promise<void> {
    const before = workerOf(thread);
    await before.terminate();
    await eventually(() => lines().some((l) => /audit thread exited/.test(String(l.msg))), 2000, 'the restart to be logged');
    expect(workerOf(thread)).not.toBe(before);
  }

  it('a thread that died is started again, and records made after that are written', async () => {
    const { thread, recorder, lines } = await start();
    for (let i = 0; i < 3; i++) recorder.recordDecision(d(`old-${i}`), egress('acme'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    expect(await thread.read('acme')).toHaveLength(3);

    await kill(thread, lines);
    expect(lines().find((l) => /audit thread exited/.test(String(l.msg)))).toMatchObject({ level: 50, msg: 'audit thread exited; starting it again on the same ring', code: 1 });
    expect(await thread.flush()).toBe(true); // the new thread answers

    // The same tenant, agent and path as the records before (the ring sends those strings as "same as before").
    for (let i = 0; i < 3; i++) recorder.recordDecision(d(`new-${i}`), egress('acme'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    // A memory store's records went with the old thread; the new ones start a chain of their own.
    expect((await thread.read('acme')).map((r) => r.data.decisionId)).toEqual(['new-0', 'new-1', 'new-2']);
    expect(await thread.verify('acme')).toMatchObject({ ok: true, records: 3 });
  });

  it('records made after the thread died, while it is started again, are not lost', async () => {
    const { thread, recorder, lines } = await start();
    recorder.recordDecision(d('old'), egress('acme'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    const before = workerOf(thread);
    await before.terminate();
    await eventually(() => lines().some((l) => /audit thread exited/.test(String(l.msg))), 2000, 'the restart to be logged');
    for (let i = 0; i < 3; i++) recorder.recordDecision(d(`while-${i}`), egress('acme'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    expect((await thread.read('acme')).map((r) => r.data.decisionId)).toEqual(['while-0', 'while-1', 'while-2']);
  });

  it('after a restart the registry keeps counting the new thread’s records', async () => {
    const { thread, recorder, registry, lines } = await start();
    for (let i = 0; i < 5; i++) recorder.recordDecision(d(`old-${i}`), egress('acme'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    expect(await counter(registry, 'joch_audit_records_total', { type: 'decision' })).toBe(5);
    await kill(thread, lines);
    expect(await thread.flush()).toBe(true);
    // First an entry whose strings are unlike the last entry's at every place, so that what follows
    // reads back whatever the ring's resync does (see the restart tests above).
    thread.record(EVENTS[1] as AuditEvent);
    for (let i = 0; i < 3; i++) recorder.recordDecision(d(`new-${i}`), egress('globex'), 'authz_http');
    expect(await thread.flush()).toBe(true);
    expect((await thread.read('globex')).map((r) => r.data.decisionId ?? r.type)).toEqual(['admin.request', 'new-0', 'new-1', 'new-2']);
    expect(await counter(registry, 'joch_audit_records_total', { type: 'admin.request' })).toBe(1);
    expect(await counter(registry, 'joch_audit_records_total', { type: 'decision' })).toBe(8);
  });
});

describe('audit thread with a file', () => {
  it('an audit folder it cannot read fails whenReady with the reason, and the thread is not started again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'joch-audit-thread-'));
    dirs.push(dir);
    const notADir = join(dir, 'plain-file');
    await writeFile(notADir, 'x');
    const { log, lines } = capturedLogger();
    const thread = new AuditThread({ ...BASE, file: notADir }, log, new Registry(), redact);
    running.push(thread);
    await expect(thread.whenReady()).rejects.toThrow(/cannot read the audit folder .*plain-file: ENOTDIR/);
    await new Promise((r) => setTimeout(r, 200));
    expect(lines().filter((l) => /starting it again/.test(String(l.msg)))).toEqual([]);
    await expect(thread.read('acme')).rejects.toMatchObject({ code: 'JOCH_AUDIT_UNAVAILABLE' });
  });

  it('writes <dir>/<tenant>.audit.jsonl; a new thread on the same folder loads the history and chains on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'joch-audit-thread-'));
    dirs.push(dir);
    const first = await start({ file: dir });
    for (let i = 0; i < 3; i++) first.recorder.recordDecision(d(`one-${i}`), egress('acme'), 'authz_http');
    first.thread.record(EVENTS[1] as AuditEvent);
    expect(await first.thread.flush()).toBe(true);
    const written = await first.thread.read('acme');
    await first.thread.close();

    const lines = (await readFile(join(dir, 'acme.audit.jsonl'), 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as AuditRecord)).toEqual(written);
    expect((await readFile(join(dir, 'globex.audit.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).type)).toEqual(['admin.request']);

    const second = await start({ file: dir });
    expect(second.lines().find((l) => l.msg === 'audit history loaded')).toMatchObject({ records: 4, folder: dir });
    expect(await second.thread.read('acme')).toEqual(written);
    for (let i = 0; i < 2; i++) second.recorder.recordDecision(d(`two-${i}`), egress('acme'), 'authz_http');
    expect(await second.thread.flush()).toBe(true);
    const all = await second.thread.read('acme');
    expect(all.map((r) => [r.seq, r.data.decisionId])).toEqual([
      [1, 'one-0'],
      [2, 'one-1'],
      [3, 'one-2'],
      [4, 'two-0'],
      [5, 'two-1'],
    ]);
    expect(all[3]?.prevHash).toBe(written[2]?.hash);
    expect(await second.thread.verify('acme')).toMatchObject({ ok: true, records: 5 });
    await second.thread.close();
    expect((await readFile(join(dir, 'acme.audit.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(5);
  });
});

describe('audit thread (redis store)', () => {
  it('writes records to Redis under the key prefix, readable through the thread and through a store of its own', async () => {
    const { thread, recorder } = await start({ store: { kind: 'redis', redis: { url: REDIS_URL, keyPrefix: keys.prefix } } });
    recorder.recordDecision(...(CASES[0] as [Decision, DecisionContext, string]));
    recorder.recordDecision(...(CASES[6] as [Decision, DecisionContext, string]));
    thread.record(EVENTS[0] as AuditEvent);
    expect(await thread.flush()).toBe(true);
    const records = await thread.read('acme');
    expect(records.map((r) => [r.seq, r.data.decisionId ?? r.type])).toEqual([
      [1, 'd-1'],
      [2, 'd-7'],
      [3, 'policy.apply'],
    ]);
    expect(JSON.stringify(records)).not.toContain(GITHUB_TOKEN);
    expect(await thread.verify('acme')).toMatchObject({ ok: true, records: 3 });
    expect(await thread.head('acme')).toEqual({ seq: 3, hash: records[2]?.hash });

    const store = new RedisStore({ url: REDIS_URL, keyPrefix: keys.prefix });
    try {
      await store.ready();
      const stored = await store.read('acme', 'audit', 1, 10);
      expect(stored.map((e) => JSON.parse(e.value) as AuditRecord)).toEqual(records);
    } finally {
      await store.close();
    }
  });
});
