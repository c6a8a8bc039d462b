import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEncode } from '../../src/audit/canonical.js';
import { AuditLog } from '../../src/audit/log.js';
import { decisionRow } from '../../src/audit/decision-row.js';
import { GENESIS_HASH } from '../../src/audit/record.js';
import { AuditDecisionRecorder } from '../../src/audit/recorder.js';
import { chainOne } from './helpers.js';
import { verifyChain } from '../../src/audit/verify.js';
import { HOOKS, type DecisionContext } from '../../src/context/types.js';
import type { Decision } from '../../src/policy/decision.js';
import { canonicalJson } from '../../src/policy/canonical.js';
import { MemoryStore } from '../../src/state/memory.js';

const decision: Decision = { decision: 'deny', reason: 'blocked', policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', decisionId: 'd-1', matched: [{ policyId: 'p', policyNamespace: 'ns', policyVersion: 'v2', ruleId: 'r', effect: 'deny' }] };

describe('decision recorder', () => {
  it('records nothing on the caller’s stack; the record appears in its tenant after the event loop turns', async () => {
    const store = new MemoryStore();
    const audit = new AuditLog({ store });
    const recorder = new AuditDecisionRecorder(audit);
    recorder.recordDecision(decision, { hook: 'toolCallRequest', tenant: 'acme', tool: { name: 'shell' } }, 'authz_http');
    recorder.recordDecision(decision, undefined, 'http_service');
    recorder.recordDecision(decision, { hook: 'egress', tenant: 'bad tenant!' }, 'authz_network');
    expect(audit.buffered).toBe(0);
    expect(await store.length('acme', 'audit')).toBe(0);
    await new Promise((r) => setImmediate(r));
    await audit.flush();
    expect((await audit.read('acme')).map((r) => [r.type, r.actor, r.data.decision, r.data.edge])).toEqual([['decision', { id: 'unknown', type: 'agent' }, 'deny', 'authz_http']]);
    const fallback = await audit.read('default');
    expect(fallback.map((r) => r.data.edge)).toEqual(['http_service', 'authz_network']);
    expect(fallback[1]?.data.claimedTenant).toBe('bad tenant!');
  });

  it('decision rows are written as exactly the canonical encoding of the documented record, for any context (property)', () => {
    const text = fc.string({ maxLength: 12 });
    const ctx = fc.record(
      {
        hook: fc.constantFrom(...HOOKS),
        tenant: fc.constantFrom('acme', 'globex'),
        namespace: text,
        environment: text,
        agent: fc.record({ id: text, name: text, framework: text, labels: fc.dictionary(text, text) }, { requiredKeys: [] }),
        session: fc.record({ id: text }),
        turnId: text,
        stepId: text,
        destination: fc.record({ host: text, port: fc.integer({ min: 0, max: 65535 }), scheme: text, sni: text, address: text }, { requiredKeys: [] }),
        request: fc.record({ method: text, path: text, headers: fc.dictionary(text, text) }, { requiredKeys: [] }),
        tool: fc.record({ name: text, server: text, sideEffect: text, arguments: fc.jsonValue() }, { requiredKeys: [] }),
        model: fc.record({ provider: text, name: text }, { requiredKeys: [] }),
        mcp: fc.record({ server: text, method: text, direction: fc.constantFrom('outbound' as const, 'inbound' as const) }, { requiredKeys: [] }),
        payload: fc.jsonValue(),
      },
      { requiredKeys: ['hook'] },
    );
    fc.assert(
      fc.property(ctx, fc.constantFrom<Decision['decision']>('allow', 'deny', 'modify'), (c, outcome) => {
        const d = { ...decision, decision: outcome };
        const { record, text: stored } = chainOne(decisionRow(d, c as DecisionContext, 'authz_http', 1_700_000_000_000), 1, GENESIS_HASH);
        expect(stored).toBe(canonicalEncode(record));
        expect(record).toMatchObject({ type: 'decision', tenant: c.tenant ?? 'default', time: '2023-11-14T22:13:20.000Z', actor: { type: 'agent', id: c.agent?.id ?? c.agent?.name ?? 'unknown' } });
        expect(record.data).toEqual(documentedRecord(d, c as DecisionContext, 'authz_http'));
        expect(canonicalEncode(record)).toBe(canonicalJson(record));
        expect(verifyChain([{ seq: 1, value: stored }])).toMatchObject({ ok: true });
        // Payloads, tool arguments and header values are never kept; a string that is also the
        // value of a documented field (the generator can repeat one) legitimately appears.
        const kept = new Set(JSON.stringify(documentedRecord(d, c as DecisionContext, 'authz_http')).match(/"(?:[^"\\]|\\.)*"/g) ?? []);
        for (const secretish of [c.payload, c.tool?.arguments, ...Object.values(c.request?.headers ?? {})]) {
          if (typeof secretish === 'string' && secretish.length > 8 && !kept.has(JSON.stringify(secretish))) expect(stored).not.toContain(JSON.stringify(secretish));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('consecutive rows sharing members (reused from the last row’s JSON in slices) encode exactly as documented, member by member (property)', () => {
    const small = fc.constantFrom('a', 'bb', 'a"b');
    const ctx = fc.record(
      {
        hook: fc.constantFrom<DecisionContext['hook']>('egress', 'message'),
        tenant: fc.constant('acme'),
        namespace: small,
        agent: fc.record({ id: small, name: small }, { requiredKeys: [] }),
        destination: fc.record({ host: small, port: fc.constantFrom(443, 80) }, { requiredKeys: [] }),
        request: fc.record({ method: small, path: small }, { requiredKeys: [] }),
        model: fc.record({ provider: small }, { requiredKeys: [] }),
      },
      { requiredKeys: ['hook'] },
    );
    const step = fc.tuple(ctx, fc.constantFrom<Decision['decision']>('allow', 'deny', 'modify'), fc.constantFrom('d-1', 'd-2'), fc.boolean());
    fc.assert(
      fc.property(fc.array(step, { minLength: 2, maxLength: 30 }), (steps) => {
        for (const [c, outcome, decisionId, twice] of steps) {
          const d = { ...decision, decision: outcome, decisionId };
          for (let k = 0; k < (twice ? 2 : 1); k++) {
            const { record, text } = chainOne(decisionRow(d, c as DecisionContext, 'authz_http', 1_700_000_000_000), 1, GENESIS_HASH);
            expect(text).toBe(canonicalEncode(record));
            expect(record.data).toEqual(documentedRecord(d, c as DecisionContext, 'authz_http'));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** The decision record as documented (docs: "Audit log"), built the plain way: the oracle for the row writer. */
function documentedRecord(d: Decision, ctx: DecisionContext, edge: string): Record<string, unknown> {
  const drop = (o: Record<string, unknown>): Record<string, unknown> => JSON.parse(JSON.stringify(o)) as Record<string, unknown>;
  return drop({
    agent: ctx.agent ? { framework: ctx.agent.framework, id: ctx.agent.id, name: ctx.agent.name } : undefined,
    decision: d.decision,
    decisionId: d.decisionId,
    destination: ctx.destination ? { address: ctx.destination.address, host: ctx.destination.host, port: ctx.destination.port, scheme: ctx.destination.scheme, sni: ctx.destination.sni } : undefined,
    edge,
    environment: ctx.environment,
    hook: ctx.hook,
    matched: d.matched,
    mcp: ctx.mcp ? { direction: ctx.mcp.direction, method: ctx.mcp.method, server: ctx.mcp.server } : undefined,
    model: ctx.model ? { name: ctx.model.name, provider: ctx.model.provider } : undefined,
    namespace: ctx.namespace,
    policyId: d.policyId,
    policyNamespace: d.policyNamespace,
    policyVersion: d.policyVersion,
    reason: d.reason,
    request: ctx.request ? { method: ctx.request.method, path: ctx.request.path?.split('?')[0] } : undefined,
    ruleId: d.ruleId,
    session: ctx.session?.id,
    stepId: ctx.stepId,
    tool: ctx.tool ? { name: ctx.tool.name, server: ctx.tool.server, sideEffect: ctx.tool.sideEffect } : undefined,
    turnId: ctx.turnId,
  });
}
