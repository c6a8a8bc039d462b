import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { resolveConfig } from '../../src/config.js';
import { startGateway, type Gateway } from '../../src/main.js';
import { checkClient, httpCheckRequest } from '../envoy/check-client.js';
import { policyYaml } from './fixtures.js';
import { eventually, REDIS_URL, redisProxy, testPrefix } from './redis-helpers.js';

const quiet = pino({ level: 'silent' });
const ephemeral = { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', reload: false };
const TOKEN = 'test-admin-token-0123456789';
const keys = testPrefix();
const gateways: Gateway[] = [];
afterAll(async () => {
  for (const g of gateways) await g.close();
  await keys.cleanup();
});

const admin = (gw: Gateway) => async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
  const res = await fetch(`http://127.0.0.1:${gw.addresses.admin}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

describe('gateway wiring: store, audit, admin API', () => {
  it('embedded default: every Check is an audit record in its tenant, without header values; the admin API serves it', async () => {
    const gw = await startGateway(resolveConfig({ ...ephemeral, policies: ['policies'], adminToken: TOKEN }), quiet);
    gateways.push(gw);
    const client = checkClient(gw.addresses.grpc);
    const ext = { tenant: 'acme', namespace: 'support-platform', environment: 'prod', agent: 'support-bot', 'label.env': 'prod' };
    await client.check(httpCheckRequest({ method: 'POST', host: 'api.openai.com', path: '/v1/chat/completions?key=sk-abc', headers: { authorization: 'Bearer agent-secret-xyz' }, extensions: ext }));
    await client.check(httpCheckRequest({ host: 'exfil.example.net', path: '/upload', extensions: ext }));
    client.close();
    await eventually(async () => (await gw.state.audit.read('acme')).length >= 2, 3000, 'decision records');
    const q = await admin(gw)('GET', '/v1/audit?tenant=acme&type=decision');
    const records = q.json.records as AuditRecord[];
    expect(records.map((r) => r.data.decision)).toEqual(['modify', 'deny']);
    expect(records[1]?.data).toMatchObject({ edge: 'authz_http', reason: 'egress-not-allowlisted', policyId: 'support-egress', hook: expect.any(String), destination: { host: 'exfil.example.net' } });
    expect(JSON.stringify(records)).not.toMatch(/agent-secret-xyz|sk-abc/);
    expect(await admin(gw)('GET', '/v1/audit/verify?tenant=acme')).toMatchObject({ status: 200, json: { ok: true } });
    const ready = await fetch(`http://127.0.0.1:${gw.addresses.admin}/readyz`);
    expect(await ready.json()).toMatchObject({ store: { kind: 'memory', available: true } });
  });

  it('Redis store mode: an apply on one replica reaches another within a second, with v<n> as the decision’s policyVersion', async () => {
    const tenant = `gw-${Date.now().toString(36)}`;
    const config = resolveConfig({ ...ephemeral, adminToken: TOKEN, store: { kind: 'redis', url: REDIS_URL, keyPrefix: keys.prefix }, policySource: { kind: 'store', tenant, environment: 'prod' } });
    const a = await startGateway(config, quiet);
    gateways.push(a);
    const b = await startGateway(config, quiet);
    gateways.push(b);
    expect(b.engine().policies.policies).toHaveLength(0);
    const applied = await admin(a)('POST', `/v1/policies/apply?tenant=${tenant}&environment=prod`, { sources: [{ file: 'p.yaml', text: policyYaml('no-exfil', 'x', 'support-platform') }] });
    expect(applied).toMatchObject({ status: 200, json: { applied: [{ version: 1 }] } });
    const started = Date.now();
    await eventually(() => b.engine().policies.policies.length === 1, 1000, 'replica b reload');
    expect(Date.now() - started).toBeLessThan(1000);
    const d = b.engine().evaluate({ hook: 'toolCallRequest', tenant, namespace: 'support-platform', tool: { name: 'x' } });
    expect(d).toMatchObject({ decision: 'deny', policyId: 'no-exfil', policyVersion: 'v1' });

    // A replica started later loads the current set.
    const late = await startGateway(config, quiet);
    gateways.push(late);
    expect(late.engine().policies.policies.map((p) => p.version)).toEqual(['v1']);
  });

  it('Redis down: Checks keep deciding from the policies held, admin writes fail closed (503), records are written after reconnect', async () => {
    const tenant = `down-${Date.now().toString(36)}`;
    const proxy = await redisProxy();
    const config = resolveConfig({ ...ephemeral, adminToken: TOKEN, store: { kind: 'redis', url: proxy.url, keyPrefix: keys.prefix }, policySource: { kind: 'store', tenant, environment: 'prod' } });
    const gw = await startGateway(config, quiet);
    gateways.push(gw);
    expect(await admin(gw)('POST', `/v1/policies/apply?tenant=${tenant}&environment=prod`, { sources: [{ file: 'p.yaml', text: policyYaml('no-exfil', 'x', 'support-platform') }] })).toMatchObject({ status: 200 });
    await eventually(() => gw.engine().policies.policies.length === 1, 1000, 'reload');

    await proxy.cut();
    await eventually(() => !gw.state.store.available(), 3000, 'store down');
    const client = checkClient(gw.addresses.grpc);
    const ext = { tenant, namespace: 'support-platform', environment: 'prod', agent: 'bot' };
    const r = await client.check(httpCheckRequest({ host: 'api.openai.com', path: '/x', extensions: ext }));
    client.close();
    expect(r.status?.code ?? 0).toBe(0);
    const refused = await admin(gw)('POST', `/v1/policies/apply?tenant=${tenant}&environment=prod`, { sources: [{ file: 'p.yaml', text: policyYaml('no-exfil', 'y', 'support-platform') }] });
    expect(refused).toMatchObject({ status: 503, json: { error: { code: 'JOCH_STORE_UNAVAILABLE' } } });
    expect((await fetch(`http://127.0.0.1:${gw.addresses.admin}/readyz`).then((x) => x.json())) as unknown).toMatchObject({ store: { kind: 'redis', available: false } });

    await proxy.restore();
    expect(await gw.state.audit.flush(5000)).toBe(true);
    const records = await gw.state.audit.read(tenant);
    expect(records.filter((x) => x.type === 'decision')).toHaveLength(1);
    expect(records.some((x) => x.type === 'admin.request' && x.data.status === 503)).toBe(true);
    expect(await gw.state.audit.verify(tenant)).toMatchObject({ ok: true });
    await proxy.close();
  });
});

describe('secret rotation through the store’s Redis', () => {
  it('reaches the other replica without a separate secrets.redis setting, and is audited once, where it was asked for', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'joch-rotate-'));
    const variable = `JOCH_TEST_ROTATE_${process.pid}`;
    process.env[variable] = 'rotation-test-value-one';
    writeFileSync(join(dir, 'secret.yaml'), `apiVersion: joch.dev/v1alpha1\nkind: Secret\nmetadata: {name: upstream-key}\nspec:\n  env: {name: ${variable}}\n`);
    const config = resolveConfig({ ...ephemeral, policies: [dir], adminToken: TOKEN, store: { kind: 'redis', url: REDIS_URL, keyPrefix: keys.prefix } });
    const seen: { replica: string; origin: string }[] = [];
    const a = await startGateway(config, quiet, { onSecretRotated: (e) => seen.push({ replica: 'a', origin: e.origin }) });
    gateways.push(a);
    const b = await startGateway(config, quiet, { onSecretRotated: (e) => seen.push({ replica: 'b', origin: e.origin }) });
    gateways.push(b);
    await a.secrets.rotate('upstream-key', 'alice');
    await eventually(() => seen.some((s) => s.replica === 'b' && s.origin === 'remote'), 3000, 'the rotation on the other replica');
    expect(seen).toContainEqual({ replica: 'a', origin: 'local' });
    await a.state.audit.flush();
    const rotations = (await a.state.audit.read('default')).filter((r) => r.type === 'secret.rotated');
    expect(rotations.map((r) => [r.actor.id, r.data.secret])).toEqual([['alice', 'upstream-key']]);
    delete process.env[variable];
  });
});
