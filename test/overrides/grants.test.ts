import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import type { DecisionContext } from '../../src/context/types.js';
import type { Decision } from '../../src/policy/decision.js';
import { requestFingerprint } from '../../src/overrides/fingerprint.js';
import { OneShotGrants, STORE_DOWN_MESSAGE, type DecisionTicket } from '../../src/overrides/grants.js';
import { MemoryStore } from '../../src/state/memory.js';
import { RedisStore } from '../../src/state/redis.js';
import type { Store } from '../../src/state/store.js';
import { engineFor } from '../policy/helpers.js';
import { eventually, REDIS_URL, redisProxy, testPrefix } from '../state/redis-helpers.js';
import { SENDS_POLICY } from './fixtures.js';

const POLICIES = `${SENDS_POLICY}    - id: rest
      when: {tool.name: {glob: "*"}}
      action: allow
`;

const keys = testPrefix();
const closing: Store[] = [];
afterAll(async () => {
  for (const s of closing) await s.close();
  await keys.cleanup();
});

const OPERATOR = { type: 'operator' as const, id: 'bob' };
let n = 0;
const ctxFor = (tool: string, args: unknown = { to: 'a@example.com' }, agent = 'support-bot'): DecisionContext => ({ hook: 'toolCallRequest', tenant: `t${n}`, namespace: 'payments', agent: { id: agent }, tool: { name: tool, arguments: args } });

/** A store that counts calls, so a test can show allows never reach it. */
function counting(store: Store): { store: Store; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (prop !== 'available' && prop !== 'onAvailability') calls++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls: () => calls };
}

const implementations: [string, () => Promise<Store>][] = [
  ['memory', async () => new MemoryStore()],
  [
    'redis',
    async () => {
      const s = new RedisStore({ url: REDIS_URL, keyPrefix: keys.prefix });
      closing.push(s);
      await s.ready();
      return s;
    },
  ],
];

describe.each(implementations)('one-shot grants: %s', (_kind, make) => {
  const setup = async () => {
    n++;
    const { store, calls } = counting(await make());
    const audit = new AuditLog({ store });
    const grants = new OneShotGrants(store, audit, { tenant: 'default', environment: 'prod' });
    const engine = engineFor(POLICIES);
    const decide = async (ctx: DecisionContext): Promise<Decision> => grants.review(ctx, engine.evaluate(ctx));
    const ticketOf = async (d: Decision): Promise<DecisionTicket> => {
      let t: DecisionTicket | undefined;
      await eventually(async () => (t = await grants.ticket(`t${n}`, d.decisionId)) !== undefined, 2000, 'ticket');
      return t as DecisionTicket;
    };
    return { store, calls, audit, grants, engine, decide, ticketOf, tenant: `t${n}` };
  };

  it('an approval lets the same pending request through once; the second is pending again', async () => {
    const { decide, grants, ticketOf, audit, tenant } = await setup();
    const first = await decide(ctxFor('send_email'));
    expect(first).toMatchObject({ decision: 'deny', pending: { approval: 'human' }, ruleId: 'send' });
    const ticket = await ticketOf(first);
    expect(ticket).toMatchObject({ pending: true, policyId: 'sends', policyNamespace: 'payments', ruleId: 'send', agent: 'support-bot', environment: 'prod', fingerprint: requestFingerprint(ctxFor('send_email')) });
    const outcome = await grants.grant(ticket, 'approval', true, OPERATOR, 'customer asked', 60_000);
    expect(outcome).toMatchObject({ verdict: 'approved', decisionId: first.decisionId, expiresAt: expect.any(String) });
    // Headers, session and step ids do not change the fingerprint.
    const retry = await decide({ ...ctxFor('send_email'), session: { id: 's2' }, stepId: 'x', request: { headers: { 'x-request-id': '2' } } });
    expect(retry).toMatchObject({ decision: 'allow', reason: 'approved-once', policyId: 'sends', ruleId: 'send' });
    expect(retry.pending).toBeUndefined();
    expect(retry.message).toContain(first.decisionId);
    expect(await decide(ctxFor('send_email'))).toMatchObject({ decision: 'deny', pending: { approval: 'human' } });
    await audit.flush();
    const records = (await audit.read(tenant, 1, 100)).filter((r) => r.type === 'approval');
    expect(records.map((r) => r.data.action)).toEqual(['approved', 'used']);
    expect(records[0]).toMatchObject({ actor: { id: 'bob' }, data: { reason: 'customer asked', decisionId: first.decisionId } });
    expect(records[1]).toMatchObject({ actor: { type: 'agent', id: 'support-bot' }, data: { decisionId: first.decisionId, usedBy: retry.decisionId, grantedBy: 'bob' } });
  });

  it('a grant is for the same agent, rule and fingerprint only', async () => {
    const { decide, grants, ticketOf } = await setup();
    const first = await decide(ctxFor('shell', { cmd: 'ls' }));
    await grants.grant(await ticketOf(first), 'override', true, { type: 'operator', id: 'eve' }, 'incident 42', 60_000);
    expect(await decide(ctxFor('shell', { cmd: 'rm -rf /' }))).toMatchObject({ decision: 'deny' });
    expect(await decide(ctxFor('shell', { cmd: 'ls' }, 'other-bot'))).toMatchObject({ decision: 'deny' });
    expect(await decide(ctxFor('shell', { cmd: 'ls' }))).toMatchObject({ decision: 'allow', reason: 'break-glass-override' });
    expect(await decide(ctxFor('shell', { cmd: 'ls' }))).toMatchObject({ decision: 'deny' });
  });

  it('a decision id is decided once; approvals need a pending decision; a rejection grants nothing', async () => {
    const { decide, grants, ticketOf } = await setup();
    const denied = await decide(ctxFor('shell'));
    await expect(grants.grant(await ticketOf(denied), 'approval', true, OPERATOR, 'r', 60_000)).rejects.toMatchObject({ code: 'JOCH_NOT_PENDING' });
    const pending = await decide(ctxFor('send_email'));
    const ticket = await ticketOf(pending);
    expect(await grants.grant(ticket, 'approval', false, OPERATOR, 'no', 60_000)).toMatchObject({ verdict: 'rejected' });
    await expect(grants.grant(ticket, 'approval', true, OPERATOR, 'yes after all', 60_000)).rejects.toMatchObject({ code: 'JOCH_ALREADY_DECIDED' });
    expect(await decide(ctxFor('send_email'))).toMatchObject({ decision: 'deny', pending: { approval: 'human' } });
  });

  it('an unused grant expires', async () => {
    const { decide, grants, ticketOf } = await setup();
    const first = await decide(ctxFor('shell'));
    await grants.grant(await ticketOf(first), 'override', true, OPERATOR, 'short', 80);
    await new Promise((r) => setTimeout(r, 200));
    expect(await decide(ctxFor('shell'))).toMatchObject({ decision: 'deny', reason: 'denied-by-policy' });
  });

  it('allows and default decisions never reach the store', async () => {
    const { grants, engine, calls } = await setup();
    const before = calls();
    const allowed = grants.review(ctxFor('read_file'), engine.evaluate(ctxFor('read_file')));
    expect(allowed).not.toBeInstanceOf(Promise);
    expect(allowed).toMatchObject({ decision: 'allow' });
    const noRule: DecisionContext = { hook: 'egress', destination: { host: 'example.com' } };
    const d = engineFor(POLICIES, { defaultDecision: 'deny' }).evaluate(noRule);
    expect(d).toMatchObject({ decision: 'deny', reason: 'default-deny' });
    expect(grants.review(noRule, d)).toBe(d);
    expect(calls()).toBe(before);
  });
});

describe('one-shot grants: store unavailable', () => {
  it('a denial stays denied (fail closed) with a clear message, and a grant is honoured after reconnect', async () => {
    const proxy = await redisProxy();
    const store = new RedisStore({ url: proxy.url, keyPrefix: keys.prefix, maxReconnectDelayMs: 100 });
    closing.push(store);
    await store.ready();
    const audit = new AuditLog({ store });
    const grants = new OneShotGrants(store, audit, { tenant: 'default', environment: 'prod' });
    const engine = engineFor(POLICIES);
    n++;
    const ctx = ctxFor('shell');
    const first = engine.evaluate(ctx);
    await grants.review(ctx, first);
    let ticket: DecisionTicket | undefined;
    await eventually(async () => (ticket = await grants.ticket(`t${n}`, first.decisionId)) !== undefined, 2000, 'ticket');
    await grants.grant(ticket as DecisionTicket, 'override', true, OPERATOR, 'incident', 60_000);

    await proxy.cut();
    await eventually(() => !store.available(), 3000, 'store down');
    const down = await grants.review(ctx, engine.evaluate(ctx));
    expect(down).toMatchObject({ decision: 'deny', reason: 'denied-by-policy' });
    expect(down.message).toBe(STORE_DOWN_MESSAGE);

    await proxy.restore();
    await eventually(() => store.available(), 5000, 'store back');
    expect(await grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'allow', reason: 'break-glass-override' });
    await proxy.close();
  });

  it('a store call that fails while the store still counts as up also fails closed', async () => {
    const store = new MemoryStore();
    const broken = Object.assign(Object.create(store) as MemoryStore, { takeExpiring: () => Promise.reject(new Error('boom')) });
    const grants = new OneShotGrants(broken, new AuditLog({ store }), { tenant: 'default', environment: 'prod' });
    const ctx = ctxFor('shell');
    const d = await grants.review(ctx, engineFor(POLICIES).evaluate(ctx));
    expect(d).toMatchObject({ decision: 'deny', message: STORE_DOWN_MESSAGE });
  });
});
