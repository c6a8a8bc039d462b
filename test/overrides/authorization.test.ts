import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../src/context/providers.js';
import { check, type Authorizer, type CheckResult } from '../../src/envoy/authorization.js';
import { OneShotGrants, STORE_DOWN_MESSAGE } from '../../src/overrides/grants.js';
import { Engine } from '../../src/policy/engine.js';
import { loadPolicies } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { MemoryStore } from '../../src/state/memory.js';
import { httpCheckRequest } from '../envoy/check-client.js';
import { eventually } from '../state/redis-helpers.js';

const engine = new Engine(new PolicySet(loadPolicies(['policies']).policies));
const store = new MemoryStore();
const grants = new OneShotGrants(store, new AuditLog({ store }), { tenant: 'default', environment: 'prod' });
const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]), grants };
const labels = { namespace: 'support-platform', 'label.env': 'prod', agent: 'bot' };
const network = { attributes: { destination: { address: { socket_address: { address: '104.18.7.1', port_value: 443 } }, labels }, tls_session: { sni: 'exfil.example.net' } } };

async function override(r: CheckResult | Promise<CheckResult>): Promise<void> {
  expect(r).toBeInstanceOf(Promise);
  const d = (await r).decision;
  expect(d).toMatchObject({ decision: 'deny', policyId: 'support-egress', ruleId: 'egress' });
  let ticket;
  await eventually(async () => (ticket = await grants.ticket('default', d.decisionId)) !== undefined, 2000, 'ticket');
  await grants.grant(ticket!, 'override', true, { type: 'operator', id: 'eve' }, 'incident', 60_000);
}

describe('ext_authz Check with one-shot grants', () => {
  it('an allow is answered synchronously, without the store', () => {
    const r = check(authorizer, httpCheckRequest({ host: 'api.openai.com', extensions: labels }) as never);
    expect(r).not.toBeInstanceOf(Promise);
    expect((r as CheckResult).decision.decision).not.toBe('deny');
  });

  it('HTTP: an overridden denial passes once', async () => {
    const req = () => httpCheckRequest({ host: 'exfil.example.net', path: '/upload', extensions: labels }) as never;
    await override(check(authorizer, req()));
    expect((await check(authorizer, req())).response).toMatchObject({ status: { code: 0 } });
    expect((await check(authorizer, req())).response).toMatchObject({ status: { code: 7 } });
  });

  it('network (SNI): an overridden denial passes once', async () => {
    await override(check(authorizer, network as never));
    const once = await check(authorizer, network as never);
    expect(once).toMatchObject({ edge: 'authz_network', decision: { decision: 'allow', reason: 'break-glass-override' } });
    expect((await check(authorizer, network as never)).decision.decision).toBe('deny');
  });

  it('store unavailable: HTTP and network denials stay denied at once, saying why (fail closed)', () => {
    const down = new (class extends MemoryStore {
      override available(): boolean {
        return false;
      }
    })();
    const closed: Authorizer = { ...authorizer, grants: new OneShotGrants(down, new AuditLog({ store: down }), { tenant: 'default', environment: 'prod' }) };
    for (const req of [httpCheckRequest({ host: 'exfil.example.net', path: '/upload', extensions: labels }), network]) {
      const r = check(closed, req as never);
      expect(r).not.toBeInstanceOf(Promise);
      expect((r as CheckResult).decision).toMatchObject({ decision: 'deny', message: expect.stringContaining(STORE_DOWN_MESSAGE) });
    }
  });
});
