import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { startIssuer, type TestIssuer } from '../identity/oidc-issuer.js';
import { policyYaml } from '../state/fixtures.js';
import { apiCaller, startAdmin, type AdminUnderTest } from './helpers.js';

let issuer: TestIssuer;
let admin: AdminUnderTest;
const tokens: Record<string, string> = {};

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

const sources = (tool: string, ns = 'payments') => ({ sources: [{ file: 'policies/no-shell.yaml', text: policyYaml('no-shell', tool, ns) }] });

async function auditRecords(): Promise<AuditRecord[]> {
  await admin.audit.flush();
  return admin.audit.read('default', 1, 10_000);
}

describe('admin API', () => {
  it('answers unauthenticated and bad-token calls 401 with stable codes, and audits them', async () => {
    expect(await call('GET', '/v1/policies?environment=staging')).toMatchObject({ status: 401, json: { error: { code: 'JOCH_AUTH_REQUIRED' } } });
    expect(await call('GET', '/v1/policies?environment=staging', 'not-a-jwt')).toMatchObject({ status: 401, json: { error: { code: 'JOCH_AUTH_INVALID' } } });
    const denied = (await auditRecords()).filter((r) => r.type === 'admin.denied');
    expect(denied.map((r) => r.data.code)).toEqual(['JOCH_AUTH_REQUIRED', 'JOCH_AUTH_INVALID']);
    expect(JSON.stringify(denied)).not.toContain('not-a-jwt');
  });

  it('a staging operator applies to staging but not to prod; the denial is audited', async () => {
    const ok = await call('POST', '/v1/policies/apply?environment=staging', 'alice', sources('shell'));
    expect(ok).toMatchObject({ status: 200, json: { applied: [{ namespace: 'payments', name: 'no-shell', version: 1, changed: true }] } });
    const prod = await call('POST', '/v1/policies/apply?environment=prod', 'alice', sources('shell'));
    expect(prod).toMatchObject({ status: 403, json: { error: { code: 'JOCH_FORBIDDEN' } } });
    expect(await admin.repo.current('default', 'prod')).toEqual([]);
    const records = await auditRecords();
    expect(records.some((r) => r.type === 'policy.apply' && r.actor.id === 'alice')).toBe(true);
    expect(records.some((r) => r.type === 'admin.denied' && r.actor.id === 'alice' && r.data.code === 'JOCH_FORBIDDEN' && r.data.route === '/v1/policies/apply')).toBe(true);
    expect(await call('POST', '/v1/policies/apply?environment=staging', 'eve', sources('bash'))).toMatchObject({ status: 403 });
  });

  it('validates, lists, gets, diffs, rolls back and promotes', async () => {
    const invalid = { sources: [{ file: 'bad.yaml', text: policyYaml('x', 'y').replace('action: deny', 'action: nope') }] };
    const v = await call('POST', '/v1/policies/validate', 'dave', invalid);
    expect(v).toMatchObject({ status: 200, json: { ok: false } });
    expect((v.json.problems as { location: { file: string; line: number } }[])[0]?.location).toMatchObject({ file: 'bad.yaml', line: 10 });
    expect(await call('POST', '/v1/policies/apply?environment=staging', 'alice', invalid)).toMatchObject({ status: 422, json: { error: { code: 'JOCH_POLICY_INVALID' } } });
    expect(await call('POST', '/v1/policies/apply?environment=staging', 'alice', { nope: 1 })).toMatchObject({ status: 400, json: { error: { code: 'JOCH_BAD_REQUEST' } } });

    await call('POST', '/v1/policies/apply?environment=staging', 'alice', sources('bash'));
    const list = await call('GET', '/v1/policies?environment=staging', 'alice');
    expect(list.json.policies).toMatchObject([{ namespace: 'payments', name: 'no-shell', version: 2 }]);
    expect(await call('GET', '/v1/policies/payments/no-shell?environment=staging&version=1', 'alice')).toMatchObject({ status: 200, json: { version: 1, resource: { metadata: { name: 'no-shell' } } } });
    expect(await call('GET', '/v1/policies/payments/missing?environment=staging', 'alice')).toMatchObject({ status: 404, json: { error: { code: 'JOCH_NOT_FOUND' } } });
    expect((await call('GET', '/v1/policies/payments/no-shell/diff?environment=staging', 'alice')).json).toMatchObject({ from: { version: 1 }, to: { version: 2 }, changes: [{ path: '/spec/rules/0/when/tool.name', from: 'shell', to: 'bash' }] });
    expect((await call('GET', '/v1/policies/payments/no-shell/history?environment=staging', 'alice')).json.versions).toHaveLength(2);

    expect(await call('POST', '/v1/policies/payments/no-shell/rollback', 'alice', { environment: 'staging' })).toMatchObject({ status: 200, json: { version: 3 } });
    expect(await call('POST', '/v1/policies/payments/no-shell/promote', 'alice', { from: 'staging', to: 'prod' })).toMatchObject({ status: 403 });
    expect(await call('POST', '/v1/policies/payments/no-shell/promote', 'bob', { from: 'staging', to: 'prod' })).toMatchObject({ status: 200, json: { version: 1, changed: true } });
    const prod = await call('GET', '/v1/policies/payments/no-shell?environment=prod', 'bob');
    expect(prod.json).toMatchObject({ origin: { kind: 'promote', from: 'staging', version: 3 }, appliedBy: 'bob' });
    expect((await call('GET', '/v1/policies/payments/no-shell/diff?environment=prod&against=staging', 'bob')).json.changes).toEqual([]);
  });

  it('audit: query, export as JSON Lines and OCSF, verify with checkpoints; needs a tenant-wide role', async () => {
    expect(await call('GET', '/v1/audit', 'alice')).toMatchObject({ status: 403 });
    await admin.audit.flush();
    const q = await call('GET', '/v1/audit?type=policy.apply,policy.promote&limit=1000', 'dave');
    expect((q.json.records as AuditRecord[]).map((r) => r.type)).toContain('policy.promote');
    expect((q.json.records as AuditRecord[]).every((r) => r.type === 'policy.apply' || r.type === 'policy.promote')).toBe(true);
    expect(await call('POST', '/v1/audit/checkpoints', 'pat')).toMatchObject({ status: 200, json: { checkpoint: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) } });
    expect(await call('GET', '/v1/audit/verify', 'dave')).toMatchObject({ status: 200, json: { ok: true, checkpoints: 1 } });
    const exported = await fetch(`${admin.url}/v1/audit/export?format=ocsf`, { headers: { authorization: `Bearer ${tokens.dave}` } });
    const events = (await exported.text()).trim().split('\n').map((l) => JSON.parse(l) as { class_uid: number });
    expect(events.length).toBeGreaterThan(5);
    expect(new Set(events.map((e) => e.class_uid))).toEqual(new Set([6003]));
    expect(await call('GET', '/v1/audit/export?format=xml', 'dave')).toMatchObject({ status: 400 });
    expect(await call('GET', '/v1/audit?tenant=bad:tenant', 'pat')).toMatchObject({ status: 400, json: { error: { code: 'JOCH_TENANT_INVALID' } } });
  });

  it('answers unknown routes with a JSON 404', async () => {
    expect(await call('GET', '/v1/nothing', 'pat')).toMatchObject({ status: 404, json: { error: { code: 'JOCH_NOT_FOUND' } } });
  });
});

describe('admin API with the static token (embedded default)', () => {
  it('accepts the token as admin and nothing else', async () => {
    const a = await startAdmin({ staticToken: 'embedded-admin-token' });
    try {
      const ok = await fetch(`${a.url}/v1/policies/apply?environment=prod`, { method: 'POST', headers: { authorization: 'Bearer embedded-admin-token', 'content-type': 'application/json' }, body: JSON.stringify(sources('shell')) });
      expect(ok.status).toBe(200);
      const bad = await fetch(`${a.url}/v1/policies?environment=prod`, { headers: { authorization: 'Bearer guess' } });
      expect(bad.status).toBe(401);
      await a.audit.flush();
      expect(JSON.stringify(await a.audit.read('default'))).not.toContain('embedded-admin-token');
    } finally {
      await a.close();
    }
  });
});
