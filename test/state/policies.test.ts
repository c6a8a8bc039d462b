import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/policy/engine.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { MemoryStore } from '../../src/state/memory.js';
import { diffJson, PolicyRepository } from '../../src/state/policies.js';
import { RedisStore } from '../../src/state/redis.js';
import type { Store } from '../../src/state/store.js';
import { policyYaml } from './fixtures.js';
import { eventually, REDIS_URL, testPrefix } from './redis-helpers.js';

const keys = testPrefix();
const opened: Store[] = [];
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await keys.cleanup();
});

async function redis(): Promise<RedisStore> {
  const s = new RedisStore({ url: REDIS_URL, keyPrefix: keys.prefix });
  opened.push(s);
  await s.ready();
  return s;
}


let n = 0;
const tenant = (): string => `t${Date.now().toString(36)}-${++n}`;
const ref = { namespace: 'payments', name: 'no-shell' };

describe.each([
  ['memory', async () => new MemoryStore() as Store],
  ['redis', redis as () => Promise<Store>],
])('policy versions (%s)', (_kind, make) => {
  it('applies v1, v2... per environment, promotes, rolls back, and decisions carry the version', async () => {
    const repo = new PolicyRepository(await make());
    const t = tenant();
    const first = await repo.apply(t, 'staging', [{ file: 'p.yaml', text: policyYaml('no-shell', 'shell') }], 'alice');
    expect(first).toMatchObject({ ok: true, applied: [{ namespace: 'payments', name: 'no-shell', version: 1, changed: true }] });
    expect(await repo.apply(t, 'staging', [{ file: 'p.yaml', text: `# reformatted\n${policyYaml('no-shell', 'shell')}` }], 'alice')).toMatchObject({ applied: [{ version: 1, changed: false }] });
    expect(await repo.apply(t, 'staging', [{ file: 'p.yaml', text: policyYaml('no-shell', 'bash') }], 'alice')).toMatchObject({ applied: [{ version: 2, changed: true }] });

    expect(await repo.promote(t, ref, 'staging', 'prod', 'bob')).toEqual({ ...ref, version: 1, changed: true });
    expect((await repo.get(t, 'prod', ref))?.origin).toEqual({ kind: 'promote', from: 'staging', version: 2 });

    expect(await repo.rollback(t, 'staging', ref, 'carol')).toEqual({ ...ref, version: 3, changed: true });
    const v3 = await repo.get(t, 'staging', ref);
    expect(v3).toMatchObject({ version: 3, appliedBy: 'carol', origin: { kind: 'rollback', to: 1 } });
    expect(diffJson((await repo.get(t, 'staging', ref, 2))?.resource, v3?.resource)).toEqual([{ path: '/spec/rules/0/when/tool.name', op: 'change', from: 'bash', to: 'shell' }]);
    expect((await repo.history(t, 'staging', ref)).map((v) => v.version)).toEqual([1, 2, 3]);
    await expect(repo.rollback(t, 'staging', ref, 'carol', 3)).rejects.toMatchObject({ code: 'JOCH_ROLLBACK_VERSION' });

    const { policies } = await repo.compileCurrent(t, 'staging');
    const d = new Engine(new PolicySet(policies)).evaluate({ hook: 'toolCallRequest', namespace: 'payments', tool: { name: 'shell' } });
    expect(d).toMatchObject({ decision: 'deny', policyId: 'no-shell', policyVersion: 'v3', reason: 'blocked-tool' });
    expect((await repo.current(t, 'prod')).map((v) => v.version)).toEqual([1]);
    expect(await repo.current(tenant(), 'staging')).toEqual([]);
  });

  it('stores nothing when a source is invalid, with file:line:col problems; refuses another tenant’s policy', async () => {
    const repo = new PolicyRepository(await make());
    const t = tenant();
    const bad = await repo.apply(t, 'staging', [
      { file: 'good.yaml', text: policyYaml('fine', 'x') },
      { file: 'bad.yaml', text: policyYaml('broken', 'x').replace('action: deny', 'action: explode') },
    ], 'alice');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems[0]).toMatchObject({ location: { file: 'bad.yaml', line: 10 } });
    expect(await repo.current(t, 'staging')).toEqual([]);
    const other = await repo.apply(t, 'staging', [{ file: 'o.yaml', text: policyYaml('x', 'y').replace('namespace: payments', 'namespace: payments\n  tenant: someone-else') }], 'alice');
    expect(!other.ok && other.problems[0]).toMatchObject({ code: 'JOCH_POLICY_TENANT', location: { file: 'o.yaml', line: 6 } });
    await expect(repo.apply(t, 'Prod!', [], 'a')).rejects.toMatchObject({ code: 'JOCH_ENVIRONMENT_INVALID' });
  });
});

describe('replicas (Redis pub/sub)', () => {
  it('a watching replica picks up an apply within a second; a late replica loads the current set', async () => {
    const t = tenant();
    const writer = new PolicyRepository(await redis());
    const replica = new PolicyRepository(await redis());
    let seen: string[] = [];
    const off = await replica.watch(t, 'prod', async () => {
      seen = (await replica.compileCurrent(t, 'prod')).policies.map((p) => `${p.name}@${p.version}`);
    });
    await writer.apply(t, 'prod', [{ file: 'a.yaml', text: policyYaml('a', 'x') }], 'alice');
    const started = Date.now();
    await eventually(() => seen.includes('a@v1'), 1000, 'replica reload');
    expect(Date.now() - started).toBeLessThan(1000);
    await writer.apply(t, 'prod', [{ file: 'a.yaml', text: policyYaml('a', 'y') }], 'alice');
    await eventually(() => seen.includes('a@v2'), 1000, 'second reload');
    await off();

    const late = new PolicyRepository(await redis());
    expect((await late.compileCurrent(t, 'prod')).policies.map((p) => p.version)).toEqual(['v2']);
  });
});
