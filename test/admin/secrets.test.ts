import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { SecretBroker, type RotationEvent } from '../../src/secrets/broker.js';
import { KnownSecrets } from '../../src/secrets/known.js';
import type { SecretDefinition } from '../../src/secrets/resource.js';
import { startIssuer, type TestIssuer } from '../identity/oidc-issuer.js';
import { startAdmin, type AdminUnderTest } from './helpers.js';

/** /v1/secrets under operator authentication and RBAC (bindings: test/admin/helpers.ts). */
const VALUE = 'pay-secret-value-8c1f2e7d9a';
const defs: SecretDefinition[] = [
  { name: 'payments-key', namespace: 'payments', source: { kind: 'env', name: 'PAY' }, ttlMs: 3_600_000, maxStaleMs: 0, file: 's.yaml', line: 1 },
  { name: 'shared-key', namespace: undefined, source: { kind: 'env', name: 'SHARED' }, ttlMs: 3_600_000, maxStaleMs: 0, file: 's.yaml', line: 8 },
];

let issuer: TestIssuer;
const env: Record<string, string | undefined> = { PAY: VALUE, SHARED: 'shared-secret-value-41b7' };
const rotations: RotationEvent[] = [];
const broker = new SecretBroker(defs, { env, known: new KnownSecrets(), onRotate: (e) => rotations.push(e) });
const admins: AdminUnderTest[] = [];
let staging: AdminUnderTest;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  issuer = await startIssuer();
  await broker.warm();
  staging = await startAdmin({ issuer }, { secrets: broker, environment: 'staging' });
  admins.push(staging);
  for (const who of ['alice', 'bob', 'dave', 'eve']) tokens[who] = await issuer.token(who);
  tokens.pat = await issuer.token('pat', { groups: ['platform'] });
});
afterAll(async () => {
  for (const a of admins) await a.close();
  await broker.close();
  await issuer.close();
});

async function call(admin: AdminUnderTest, method: string, path: string, who?: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${admin.url}${path}`, { method, headers: { ...headers, ...(who ? { authorization: `Bearer ${tokens[who] ?? who}` } : {}) } });
  const text = await res.text();
  expect(text).not.toContain(VALUE);
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> & { error?: { code: string; message: string } } };
}

async function auditRecords(admin: AdminUnderTest): Promise<AuditRecord[]> {
  await admin.audit.flush();
  return admin.audit.read('default', 1, 10_000);
}

describe('/v1/secrets', () => {
  it('refuses unauthenticated callers with the /v1 error shape, and audits the denial', async () => {
    expect(await call(staging, 'GET', '/v1/secrets')).toMatchObject({ status: 401, json: { error: { code: 'JOCH_AUTH_REQUIRED' } } });
    expect(await call(staging, 'POST', '/v1/secrets/payments-key/rotate', undefined, { 'x-joch-operator': 'mallory' })).toMatchObject({ status: 401, json: { error: { code: 'JOCH_AUTH_REQUIRED' } } });
    expect(await call(staging, 'POST', '/secrets/payments-key/rotate', undefined, { 'x-joch-operator': 'mallory' })).toMatchObject({ status: 404, json: { error: { code: 'JOCH_NOT_FOUND' } } });
    expect(rotations).toEqual([]);
    const denied = (await auditRecords(staging)).filter((r) => r.type === 'admin.denied');
    expect(denied.map((r) => [r.data.route, r.data.code])).toEqual([
      ['/v1/secrets', 'JOCH_AUTH_REQUIRED'],
      ['/v1/secrets/:name/rotate', 'JOCH_AUTH_REQUIRED'],
    ]);
  });

  it('lists what the operator may read: a viewer everything, a namespaced operator only its namespace', async () => {
    const dave = await call(staging, 'GET', '/v1/secrets', 'dave');
    expect(dave).toMatchObject({ status: 200, json: { tenant: 'default', environment: 'staging' } });
    expect((dave.json.secrets as { name: string }[]).map((s) => s.name)).toEqual(['payments-key', 'shared-key']);
    const alice = await call(staging, 'GET', '/v1/secrets', 'alice');
    expect((alice.json.secrets as { name: string; namespace: string | null; source: string }[])).toEqual([expect.objectContaining({ name: 'payments-key', namespace: 'payments', source: 'env', cached: true })]);
    expect(await call(staging, 'GET', '/v1/secrets', 'eve')).toMatchObject({ status: 403, json: { error: { code: 'JOCH_FORBIDDEN' } } });
    expect(await call(staging, 'GET', '/v1/secrets?tenant=other', 'dave')).toMatchObject({ status: 400, json: { error: { code: 'JOCH_BAD_REQUEST' } } });
  });

  it('an operator of the namespace in the gateway environment rotates, as itself; viewers and approvers may not', async () => {
    const ok = await call(staging, 'POST', '/v1/secrets/payments-key/rotate', 'alice', { 'x-joch-operator': 'mallory' });
    expect(ok).toMatchObject({ status: 200, json: { type: 'secret.rotated', secret: 'payments-key', origin: 'local', actor: 'alice', refreshed: true } });
    expect(rotations.map((r) => r.actor)).toEqual(['alice']);
    for (const who of ['dave', 'bob', 'eve']) expect(await call(staging, 'POST', '/v1/secrets/payments-key/rotate', who)).toMatchObject({ status: 403, json: { error: { code: 'JOCH_FORBIDDEN' } } });
    // A Secret without a namespace needs a `*` namespace binding, like a policy without one.
    expect(await call(staging, 'POST', '/v1/secrets/shared-key/rotate', 'alice')).toMatchObject({ status: 403, json: { error: { code: 'JOCH_FORBIDDEN' } } });
    // Unknown names are told only to operators who may rotate every Secret here.
    expect(await call(staging, 'POST', '/v1/secrets/nope/rotate', 'alice')).toMatchObject({ status: 403 });
    expect(await call(staging, 'POST', '/v1/secrets/nope/rotate', 'pat')).toMatchObject({ status: 404, json: { error: { code: 'JOCH_SECRET_UNKNOWN' } } });
    expect(await call(staging, 'POST', '/v1/secrets/shared-key/rotate', 'pat')).toMatchObject({ status: 200, json: { actor: 'pat' } });
    expect(rotations.map((r) => r.actor)).toEqual(['alice', 'pat']);
    const records = await auditRecords(staging);
    expect(records).toContainEqual(expect.objectContaining({ type: 'admin.denied', actor: expect.objectContaining({ id: 'dave' }), data: expect.objectContaining({ route: '/v1/secrets/:name/rotate', code: 'JOCH_FORBIDDEN', permission: 'secret.rotate' }) }));
    expect(records).toContainEqual(expect.objectContaining({ type: 'admin.request', actor: expect.objectContaining({ id: 'alice' }), data: expect.objectContaining({ method: 'POST', route: '/v1/secrets/:name/rotate', status: 200 }) }));
  });

  it('a provider failure answers 502 JOCH_SECRET_UNAVAILABLE without the value', async () => {
    delete env.PAY;
    const r = await call(staging, 'POST', '/v1/secrets/payments-key/rotate', 'alice');
    expect(r).toMatchObject({ status: 502, json: { error: { code: 'JOCH_SECRET_UNAVAILABLE' } } });
    expect(r.json.error?.message).toContain('secret "payments-key": cached values dropped, but the new value could not be fetched');
    env.PAY = VALUE;
  });

  it('scopes by the gateway environment: staging bindings do not reach a prod gateway, nor one with no environment', async () => {
    const prod = await startAdmin({ issuer }, { secrets: broker, environment: 'prod' });
    const unnamed = await startAdmin({ issuer }, { secrets: broker });
    admins.push(prod, unnamed);
    for (const a of [prod, unnamed]) {
      expect(await call(a, 'POST', '/v1/secrets/payments-key/rotate', 'alice')).toMatchObject({ status: 403, json: { error: { code: 'JOCH_FORBIDDEN' } } });
      expect(await call(a, 'POST', '/v1/secrets/payments-key/rotate', 'pat')).toMatchObject({ status: 200 });
    }
    expect(await call(unnamed, 'GET', '/v1/secrets', 'dave')).toMatchObject({ status: 200, json: { environment: null } });
  });
});
