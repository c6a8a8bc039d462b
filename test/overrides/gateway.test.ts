import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { startGateway, type Gateway } from '../../src/main.js';
import { checkClient, httpCheckRequest, type CheckResponse } from '../envoy/check-client.js';
import { eventually, REDIS_URL, testPrefix } from '../state/redis-helpers.js';
import { OUTBOUND_POLICY as POLICY } from './fixtures.js';

const quiet = pino({ level: 'silent' });
const ephemeral = { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', reload: false };
const TOKEN = 'test-admin-token-overrides-0123';
const keys = testPrefix();
const gateways: Gateway[] = [];
afterAll(async () => {
  for (const g of gateways) await g.close();
  await keys.cleanup();
});


function policyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'joch-overrides-'));
  writeFileSync(join(dir, 'outbound.yaml'), POLICY);
  return dir;
}

const admin = (gw: Gateway) => async (method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
  const res = await fetch(`http://127.0.0.1:${gw.addresses.admin}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

const ext = { namespace: 'support', environment: 'prod', agent: 'support-bot' };
async function check(gw: Gateway, host: string, path = '/charge'): Promise<{ allowed: boolean; decisionId: string | undefined; response: CheckResponse }> {
  const client = checkClient(gw.addresses.grpc);
  try {
    const r = await client.check(httpCheckRequest({ method: 'POST', host, path, headers: { 'x-request-id': String(Math.random()) }, extensions: ext }));
    const headers = [...(r.denied_response?.headers ?? []), ...(r.ok_response?.headers ?? [])];
    return { allowed: (r.status?.code ?? 0) === 0, decisionId: headers.find((h) => h.header?.key === 'x-joch-decision-id')?.header?.value, response: r };
  } finally {
    client.close();
  }
}

describe('gateway: approvals and rule disables on the ext_authz path', () => {
  it('embedded default: an approved pending Check passes once; a disabled rule is gone within a second and back after its window', async () => {
    const gw = await startGateway(resolveConfig({ ...ephemeral, policies: [policyDir()], adminToken: TOKEN, environment: 'prod' }), quiet);
    gateways.push(gw);
    const first = await check(gw, 'pay.example.com');
    expect(first.allowed).toBe(false);
    expect(first.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    await eventually(async () => (await gw.state.grants.ticket('default', first.decisionId as string)) !== undefined, 2000, 'ticket');
    expect(await admin(gw)('POST', '/v1/approvals', { decisionId: first.decisionId, reason: 'invoice 17 confirmed' })).toMatchObject({ status: 200, json: { verdict: 'approved' } });
    expect((await check(gw, 'pay.example.com')).allowed).toBe(true);
    expect((await check(gw, 'pay.example.com')).allowed).toBe(false);
    const grants = await gw.metrics.registry.getSingleMetricAsString('joch_grants_total');
    expect(grants).toContain('joch_grants_total{kind="approval",verdict="approved"} 1');
    expect(grants).toContain('joch_grants_total{kind="approval",verdict="used"} 1');
    // Another path is another request.
    const other = await check(gw, 'pay.example.com', '/refund');
    await eventually(async () => (await gw.state.grants.ticket('default', other.decisionId as string)) !== undefined, 2000, 'ticket');
    await admin(gw)('POST', '/v1/approvals', { decisionId: other.decisionId, reason: 'refund ok' });
    expect((await check(gw, 'pay.example.com', '/charge')).allowed).toBe(false);
    expect((await check(gw, 'pay.example.com', '/refund')).allowed).toBe(true);

    expect((await check(gw, 'blocked.example.com')).allowed).toBe(false);
    expect(await admin(gw)('POST', '/v1/overrides/rules', { policy: 'support/outbound', rule: 'nope', reason: 'r', followUp: 'f', ttl: '2s' })).toMatchObject({ status: 404 });
    const started = Date.now();
    expect(await admin(gw)('POST', '/v1/overrides/rules', { policy: 'support/outbound', rule: 'no-blocked', reason: 'false positive', followUp: 'OPS-9', ttl: '2s' })).toMatchObject({ status: 200 });
    await eventually(async () => (await check(gw, 'blocked.example.com')).allowed, 1000, 'rule disabled');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await gw.metrics.registry.getSingleMetricAsString('joch_rule_disables_active')).toContain('joch_rule_disables_active 1');
    // The other rules of the policy still apply.
    expect((await check(gw, 'pay.example.com', '/other')).allowed).toBe(false);
    await eventually(async () => !(await check(gw, 'blocked.example.com')).allowed, 3500, 'window ended');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect(await gw.metrics.registry.getSingleMetricAsString('joch_rule_disables_active')).toContain('joch_rule_disables_active 0');
  });

  it('two replicas sharing Redis: a disable on one is honoured by the other within a second; a grant is used once across both', async () => {
    const config = resolveConfig({ ...ephemeral, policies: [policyDir()], adminToken: TOKEN, environment: 'prod', store: { kind: 'redis', url: REDIS_URL, keyPrefix: keys.prefix } });
    const a = await startGateway(config, quiet);
    gateways.push(a);
    const b = await startGateway(config, quiet);
    gateways.push(b);

    const started = Date.now();
    expect(await admin(a)('POST', '/v1/overrides/rules', { policy: 'support/outbound', rule: 'no-blocked', reason: 'false positive', followUp: 'OPS-10', ttl: '1h' })).toMatchObject({ status: 200 });
    await eventually(async () => (await check(b, 'blocked.example.com')).allowed, 1000, 'replica b honours the disable');
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await admin(b)('GET', '/v1/overrides/rules')).toMatchObject({ json: { disabled: [{ ruleId: 'no-blocked', followUp: 'OPS-10' }] } });
    expect(await admin(b)('DELETE', '/v1/overrides/rules/support/outbound/no-blocked?reason=fixed')).toMatchObject({ status: 200 });
    await eventually(async () => !(await check(a, 'blocked.example.com')).allowed, 1000, 'replica a restores the rule');

    const denied = await check(a, 'pay.example.com', '/shared');
    await eventually(async () => (await b.state.grants.ticket('default', denied.decisionId as string)) !== undefined, 2000, 'ticket');
    expect(await admin(b)('POST', '/v1/approvals', { decisionId: denied.decisionId, reason: 'ok' })).toMatchObject({ status: 200 });
    const both = await Promise.all([check(a, 'pay.example.com', '/shared'), check(b, 'pay.example.com', '/shared')]);
    expect(both.filter((r) => r.allowed)).toHaveLength(1);
  });
});
