import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import type { DecisionContext } from '../../src/context/types.js';
import type { Decision } from '../../src/policy/decision.js';
import { startIssuer, type TestIssuer } from '../identity/oidc-issuer.js';
import { engineFor } from '../policy/helpers.js';
import { eventually } from '../state/redis-helpers.js';
import { apiCaller, startAdmin, type AdminUnderTest } from './helpers.js';
import { SENDS_POLICY } from '../overrides/fixtures.js';

const POLICIES = SENDS_POLICY;

let issuer: TestIssuer;
let admin: AdminUnderTest;
const tokens: Record<string, string> = {};
const engine = engineFor(POLICIES);

beforeAll(async () => {
  issuer = await startIssuer();
  admin = await startAdmin({ issuer });
  for (const who of ['alice', 'bob', 'dave', 'eve']) tokens[who] = await issuer.token(who);
  tokens.pat = await issuer.token('pat', { groups: ['platform'] });
});
afterAll(async () => {
  await admin.close();
  await issuer.close();
});

const call = apiCaller(() => admin.url, tokens);

/** A denial as the hot path makes it: decided, then reviewed (which keeps its ticket). */
async function deny(tool: string, args: unknown = {}): Promise<{ d: Decision; ctx: DecisionContext }> {
  const ctx: DecisionContext = { hook: 'toolCallRequest', namespace: 'payments', agent: { id: 'bot' }, tool: { name: tool, arguments: args } };
  const d = await admin.grants.review(ctx, engine.evaluate(ctx));
  await eventually(async () => (await admin.grants.ticket('default', d.decisionId)) !== undefined, 2000, 'ticket');
  return { d, ctx };
}

async function records(type?: string): Promise<AuditRecord[]> {
  await admin.audit.flush();
  return (await admin.audit.read('default', 1, 10_000)).filter((r) => type === undefined || r.type === type);
}

describe('POST /v1/approvals', () => {
  it('an approver approves a pending decision in its namespace and environment; the request passes once', async () => {
    const { d, ctx } = await deny('send_email', { to: 'x' });
    expect(d.pending).toEqual({ approval: 'human' });
    const r = await call('POST', '/v1/approvals', 'bob', { decisionId: d.decisionId, reason: 'customer confirmed by phone', ttl: '5m' });
    expect(r).toMatchObject({ status: 200, json: { verdict: 'approved', decisionId: d.decisionId, ruleId: 'send', policy: { namespace: 'payments', name: 'sends' } } });
    expect(Date.parse(r.json.expiresAt as string) - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(await admin.grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'allow', reason: 'approved-once' });
    expect(await admin.grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'deny', pending: { approval: 'human' } });
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: d.decisionId, reason: 'again' })).toMatchObject({ status: 409, json: { error: { code: 'JOCH_ALREADY_DECIDED', message: expect.stringContaining('already approved by bob') } } });
    const approvals = await records('approval');
    expect(approvals.find((a) => a.data.decisionId === d.decisionId && a.data.action === 'approved')).toMatchObject({ actor: { type: 'operator', id: 'bob' }, data: { reason: 'customer confirmed by phone', environment: 'prod' } });
  });

  it('records a rejection, after which nothing passes', async () => {
    const { d, ctx } = await deny('send_email', { to: 'y' });
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: d.decisionId, verdict: 'reject', reason: 'not expected' })).toMatchObject({ status: 200, json: { verdict: 'rejected' } });
    expect(await admin.grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'deny' });
    expect((await records('approval')).some((a) => a.data.decisionId === d.decisionId && a.data.action === 'rejected')).toBe(true);
  });

  it('wrong roles are denied 403 and audited; the decision stays open', async () => {
    const { d } = await deny('send_email', { to: 'z' });
    for (const who of ['alice', 'dave', 'eve']) {
      expect(await call('POST', '/v1/approvals', who, { decisionId: d.decisionId, reason: 'r' })).toMatchObject({ status: 403, json: { error: { code: 'JOCH_FORBIDDEN' } } });
    }
    expect(await call('POST', '/v1/approvals', undefined, { decisionId: d.decisionId, reason: 'r' })).toMatchObject({ status: 401 });
    const denied = (await records('admin.denied')).filter((r) => r.data.route === '/v1/approvals');
    expect(denied.map((r) => r.actor.id)).toEqual(expect.arrayContaining(['alice', 'dave', 'eve', 'anonymous']));
    expect(denied.find((r) => r.actor.id === 'alice')?.data).toMatchObject({ code: 'JOCH_FORBIDDEN', permission: 'approve' });
    expect(await admin.grants.ticket('default', d.decisionId)).toBeDefined();
  });

  it('answers bad input with precise errors, and a plain denial is not approvable', async () => {
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: 'x y', reason: 'r' })).toMatchObject({ status: 400, json: { error: { code: 'JOCH_BAD_REQUEST' } } });
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: 'abc' })).toMatchObject({ status: 400, json: { error: { message: '"reason" is required' } } });
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: 'abc', reason: 'r', ttl: '2h' })).toMatchObject({ status: 400, json: { error: { message: expect.stringContaining('between 1s and 1h') } } });
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: 'abc', reason: 'r', verdict: 'maybe' })).toMatchObject({ status: 400 });
    // Unknown ids: only an operator allowed everywhere learns the id is unknown.
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: 'abc', reason: 'r' })).toMatchObject({ status: 403 });
    expect(await call('POST', '/v1/approvals', 'pat', { decisionId: 'abc', reason: 'r' })).toMatchObject({ status: 404 });
    const { d } = await deny('shell', { n: 1 });
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: d.decisionId, reason: 'r' })).toMatchObject({ status: 409, json: { error: { code: 'JOCH_NOT_PENDING' } } });
  });
});

describe('POST /v1/overrides (break-glass)', () => {
  it('only break-glass overrides a denial, once; admin cannot; the reason is mandatory', async () => {
    const { d, ctx } = await deny('shell', { cmd: 'restart' });
    for (const who of ['pat', 'bob', 'alice']) expect(await call('POST', '/v1/overrides', who, { decisionId: d.decisionId, reason: 'r' })).toMatchObject({ status: 403 });
    expect(await call('POST', '/v1/overrides', 'eve', { decisionId: d.decisionId })).toMatchObject({ status: 400 });
    expect(await call('POST', '/v1/overrides', 'eve', { decisionId: d.decisionId, reason: 'incident INC-7: restart the worker' })).toMatchObject({ status: 200, json: { verdict: 'overridden' } });
    expect(await admin.grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'allow', reason: 'break-glass-override' });
    expect(await admin.grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'deny' });
    const o = (await records('override')).filter((r) => r.data.decisionId === d.decisionId);
    expect(o.map((r) => [r.data.action, r.actor.id])).toEqual([
      ['overridden', 'eve'],
      ['used', 'bot'],
    ]);
    expect((await records('admin.denied')).filter((r) => r.data.route === '/v1/overrides').map((r) => r.actor.id)).toEqual(expect.arrayContaining(['pat', 'bob', 'alice']));
  });
});

describe('/v1/overrides/rules (emergency rule disable)', () => {
  const body = { policy: 'payments/sends', rule: 'shell', reason: 'rule blocks the on-call runbook', followUp: 'JIRA-123: narrow the shell rule', ttl: '2h' };

  it('admin disables one rule for a bounded window; it is listed, audited, and ended early by DELETE', async () => {
    const r = await call('POST', '/v1/overrides/rules', 'pat', body);
    expect(r).toMatchObject({ status: 200, json: { policyNamespace: 'payments', policyName: 'sends', ruleId: 'shell', environment: 'prod', followUp: body.followUp, disabledBy: 'pat' } });
    const left = Date.parse(r.json.until as string) - Date.now();
    expect(left).toBeGreaterThan(119 * 60_000);
    expect(left).toBeLessThanOrEqual(120 * 60_000);
    const list = await call('GET', '/v1/overrides/rules', 'dave');
    expect(list).toMatchObject({ status: 200, json: { environment: 'prod', disabled: [{ ruleId: 'shell' }] } });
    expect(await call('DELETE', '/v1/overrides/rules/payments/sends/shell?reason=fixed', 'bob')).toMatchObject({ status: 403 });
    expect(await call('DELETE', '/v1/overrides/rules/payments/sends/shell?reason=fixed', 'pat')).toMatchObject({ status: 200, json: { ended: true, endedBy: 'pat' } });
    expect(await call('GET', '/v1/overrides/rules', 'dave')).toMatchObject({ json: { disabled: [] } });
    expect(await call('DELETE', '/v1/overrides/rules/payments/sends/shell', 'pat')).toMatchObject({ status: 404 });
    const o = (await records('override')).filter((x) => String(x.data.action).startsWith('rule.'));
    expect(o.map((x) => [x.data.action, x.actor.id])).toEqual([
      ['rule.disabled', 'pat'],
      ['rule.enabled', 'pat'],
    ]);
    expect(o[0]?.data).toMatchObject({ followUp: body.followUp, reason: body.reason });
    expect(o[1]?.data).toMatchObject({ reason: 'fixed' });
  });

  it('only admin may disable; break-glass, approver and operator are denied and audited', async () => {
    for (const who of ['eve', 'bob', 'alice', 'dave']) expect(await call('POST', '/v1/overrides/rules', who, body)).toMatchObject({ status: 403, json: { error: { code: 'JOCH_FORBIDDEN' } } });
    const denied = (await records('admin.denied')).filter((r) => r.data.route === '/v1/overrides/rules');
    expect(denied.map((r) => r.actor.id)).toEqual(expect.arrayContaining(['eve', 'bob', 'alice', 'dave']));
  });

  it('requires a follow-up, a reason and a window of at most 24 h', async () => {
    const bad = async (b: Record<string, unknown>) => (await call('POST', '/v1/overrides/rules', 'pat', b)).json.error?.message;
    expect(await bad({ ...body, followUp: undefined })).toBe('"followUp" is required');
    expect(await bad({ ...body, followUp: '  ' })).toBe('"followUp" is required');
    expect(await bad({ ...body, reason: undefined })).toBe('"reason" is required');
    expect(await bad({ ...body, ttl: undefined })).toContain('give exactly one of "ttl"');
    expect(await bad({ ...body, until: new Date(Date.now() + 3_600_000).toISOString() })).toContain('give exactly one of "ttl"');
    expect(await bad({ ...body, ttl: '25h' })).toContain('between 1s and 24h');
    expect(await bad({ ...body, ttl: undefined, until: new Date(Date.now() + 25 * 3_600_000).toISOString() })).toContain('between 1s and 24h');
    expect(await bad({ ...body, ttl: undefined, until: 'tomorrow' })).toContain('ISO 8601');
    expect(await bad({ ...body, policy: 'a/b/c' })).toContain('NAMESPACE/NAME');
    expect(await bad({ ...body, rule: '' })).toContain('"rule" is required');
    expect(await bad({ ...body, environment: 'prod!' })).toContain('not a valid name');
    const until = new Date(Date.now() + 3_600_000).toISOString();
    expect(await call('POST', '/v1/overrides/rules', 'pat', { ...body, ttl: undefined, until, rule: 'send' })).toMatchObject({ status: 200, json: { until } });
    expect(await call('DELETE', '/v1/overrides/rules/payments/sends/send', 'pat')).toMatchObject({ status: 200 });
  });
});

describe('GET /v1/approvals', () => {
  type Open = { decisionId: string; actions: string[]; pending: boolean; ruleId: string; expiresAt: string };
  const listed = async (who: string): Promise<{ status: number; open: Open[] }> => {
    const r = await call('GET', '/v1/approvals', who);
    return { status: r.status, open: (r.json.open as Open[] | undefined) ?? [] };
  };

  it('lists the open denials each operator may decide, with what they may do, until decided', async () => {
    const pending = await deny('send_email', { to: 'listed@example.com' });
    const outright = await deny('shell', { cmd: 'listed' });
    const mine = (open: Open[]) => open.filter((o) => o.decisionId === pending.d.decisionId || o.decisionId === outright.d.decisionId);
    // The approver sees the pending one only (it cannot override); break-glass sees both, to override.
    expect(mine((await listed('bob')).open)).toEqual([expect.objectContaining({ decisionId: pending.d.decisionId, actions: ['approve', 'reject'], pending: true, ruleId: 'send' })]);
    expect(mine((await listed('eve')).open).map((o) => [o.decisionId, o.actions])).toEqual([
      [pending.d.decisionId, ['override']],
      [outright.d.decisionId, ['override']],
    ]);
    const entry = mine((await listed('bob')).open)[0] as Open;
    expect(Date.parse(entry.expiresAt) - Date.now()).toBeGreaterThan(59 * 60_000);
    // A viewer may decide nothing: the listing is refused (and audited), not an empty list.
    expect((await listed('dave')).status).toBe(403);
    expect((await records('admin.denied')).some((r) => r.data.route === '/v1/approvals' && r.actor.id === 'dave')).toBe(true);
    expect(await call('POST', '/v1/approvals', 'bob', { decisionId: pending.d.decisionId, reason: 'ok' })).toMatchObject({ status: 200 });
    expect(mine((await listed('eve')).open).map((o) => o.decisionId)).toEqual([outright.d.decisionId]);
  });

  it('refuses a bad limit and anonymous callers', async () => {
    for (const limit of ['0', '1001', 'x', '1.5']) expect(await call('GET', `/v1/approvals?limit=${limit}`, 'bob')).toMatchObject({ status: 400, json: { error: { code: 'JOCH_BAD_REQUEST' } } });
    expect((await call('GET', '/v1/approvals')).status).toBe(401);
  });
});
