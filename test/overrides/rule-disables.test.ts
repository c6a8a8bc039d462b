import { afterAll, describe, expect, it } from 'vitest';
import { compileSources } from '../../src/policy/load.js';
import { hasRule, RuleDisables, withoutDisabledRules, type RuleDisable } from '../../src/overrides/rule-disables.js';
import { MemoryStore } from '../../src/state/memory.js';
import { RedisStore } from '../../src/state/redis.js';
import type { Store } from '../../src/state/store.js';
import { eventually, REDIS_URL, testPrefix } from '../state/redis-helpers.js';

const POLICIES = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: p, namespace: team}
spec:
  egress:
    allow:
      - hosts: [api.example.com]
  rules:
    - id: a
      when: {tool.name: a}
      action: deny
    - id: b
      when: {tool.name: b}
      action: deny
---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: p}
spec:
  rules:
    - id: a
      when: {tool.name: a}
      action: deny
`;

const compiled = compileSources([{ file: 'p.yaml', text: POLICIES }]);
const disable = (over: Partial<RuleDisable>): RuleDisable => ({ tenant: 'default', environment: 'prod', policyNamespace: 'team', policyName: 'p', ruleId: 'a', reason: 'r', followUp: 'f', disabledBy: 'pat', disabledAt: new Date().toISOString(), until: new Date(Date.now() + 60_000).toISOString(), ...over });

describe('withoutDisabledRules', () => {
  it('takes out exactly the named rule of the named policy (namespace counts)', () => {
    expect(compiled.problems.filter((p) => p.severity !== 'warning')).toEqual([]);
    const out = withoutDisabledRules(compiled.policies, [disable({})]);
    const team = out.find((p) => p.namespace === 'team');
    const plain = out.find((p) => p.namespace === undefined);
    expect(team?.rules.map((r) => r.id)).toEqual(['b']);
    expect(team?.egress).toBeDefined();
    expect(plain?.rules.map((r) => r.id)).toEqual(['a']);
    expect(plain).toBe(compiled.policies.find((p) => p.namespace === undefined));
    expect(withoutDisabledRules(compiled.policies, [disable({ policyNamespace: null })]).find((p) => p.namespace === undefined)?.rules).toEqual([]);
    expect(withoutDisabledRules(compiled.policies, [disable({ tenant: 'other' })]).find((p) => p.namespace === 'team')?.rules).toHaveLength(1);
  });

  it('"egress" switches the policy’s egress allow-list off', () => {
    const team = compiled.policies.find((p) => p.namespace === 'team');
    expect(team && hasRule(team, 'egress')).toBe(true);
    expect(withoutDisabledRules(compiled.policies, [disable({ ruleId: 'egress' })]).find((p) => p.namespace === 'team')?.egress).toBeUndefined();
  });
});

const keys = testPrefix();
const closing: Store[] = [];
afterAll(async () => {
  for (const s of closing) await s.close();
  await keys.cleanup();
});

describe.each([
  ['memory', async (): Promise<Store> => new MemoryStore()],
  [
    'redis',
    async (): Promise<Store> => {
      const s = new RedisStore({ url: REDIS_URL, keyPrefix: keys.prefix });
      closing.push(s);
      await s.ready();
      return s;
    },
  ],
] as const)('RuleDisables: %s', (_kind, make) => {
  it('watchers see a disable at once, and again when its window ends', async () => {
    const store = await make();
    const disables = new RuleDisables(store);
    const tenant = `t-${Math.random().toString(36).slice(2, 8)}`;
    const seen: string[][] = [];
    const stop = await disables.watch(tenant, 'prod', (active) => seen.push(active.map((d) => d.ruleId)));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.length === 0)).toBe(true);
    const started = Date.now();
    const { disabledAt: _d, ...entry } = disable({ tenant, until: new Date(started + 1000).toISOString() });
    await disables.disable(entry);
    await eventually(() => seen.at(-1)?.[0] === 'a', 900, 'the disable');
    await eventually(() => seen.at(-1)?.length === 0, 3000, 'the end of the window');
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(await disables.active(tenant, 'prod')).toEqual([]);
    expect(await store.list(tenant, 'overrides/rules/prod')).toEqual([]);
    await stop();
  });

  it('keeps at most 100 disables active per tenant and environment', async () => {
    const disables = new RuleDisables(await make());
    const tenant = `t-${Math.random().toString(36).slice(2, 8)}`;
    for (let i = 0; i < 100; i++) {
      const { disabledAt: _d, ...e } = disable({ tenant, ruleId: `r${i}` });
      await disables.disable(e);
    }
    const { disabledAt: _d, ...extra } = disable({ tenant, ruleId: 'r100' });
    await expect(disables.disable(extra)).rejects.toMatchObject({ code: 'JOCH_LIMIT' });
    const { disabledAt: _d2, ...again } = disable({ tenant, ruleId: 'r5' });
    await expect(disables.disable(again)).resolves.toMatchObject({ ruleId: 'r5' });
  });
});
