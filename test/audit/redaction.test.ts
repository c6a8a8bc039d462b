import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { decisionRow } from '../../src/audit/decision-row.js';
import { GENESIS_HASH } from '../../src/audit/record.js';
import { chainOne } from './helpers.js';
import { verifyChain } from '../../src/audit/verify.js';
import { createRedactor } from '../../src/log.js';
import type { Decision } from '../../src/policy/decision.js';
import { MemoryStore } from '../../src/state/memory.js';

// Built from parts so that no secret-shaped literal sits in the source.
const GITHUB_TOKEN = ['ghp', 'R8qNw2Lk5Tz0Xv7Bc3Mh9Dp4Jf6Sa1Gy2Ue8'].join('_');
const decision: Decision = { decision: 'allow', reason: 'no-rule-matched', policyId: null, policyNamespace: null, policyVersion: 'sha256:0123456789ab', ruleId: null, decisionId: 'd-1', matched: [] };
const redact = createRedactor({ patterns: { '*': [{ name: 'ticket', regex: 'TKT-[0-9]{6}' }] } });

describe('audit records go through the logs’ redactor', () => {
  it('leaves ordinary records exactly as they are', () => {
    const ctx = { hook: 'egress', tenant: 'acme', destination: { host: 'api.example.com', port: 443 }, request: { method: 'GET', path: '/v1/items/42' } } as const;
    expect(decisionRow(decision, ctx, 'authz_http', 0, 'default', redact)).toEqual(decisionRow(decision, ctx, 'authz_http', 0));
    const e = { tenant: 'acme', type: 'policy.apply', actor: { type: 'operator', id: 'alice' }, data: { files: ['a.yaml'] } } as const;
    expect(chainOne(e, 1, GENESIS_HASH, 0, redact)).toEqual(chainOne(e, 1, GENESIS_HASH, 0));
  });

  it('redacts secret-shaped strings and operator patterns (decisions as built, other records as written) before hashing; valid JSON; the chain verifies', async () => {
    const store = new MemoryStore();
    const audit = new AuditLog({ store, redact });
    audit.recordDecision(decisionRow(decision, { hook: 'egress', tenant: 'acme', agent: { name: 'TKT-123456' }, request: { method: 'GET', path: `/repos/x/${GITHUB_TOKEN}` } }, 'authz_http', 0, 'default', redact));
    audit.record({ tenant: 'acme', type: 'secret.rotated', actor: { type: 'operator', id: 'alice' }, data: { secret: 'gh', error: `provider said: token ${GITHUB_TOKEN} expired` } });
    await audit.flush();
    const entries = await store.read('acme', 'audit', 1, 10);
    expect(entries).toHaveLength(2);
    for (const e of entries) {
      expect(e.value).not.toContain(GITHUB_TOKEN);
      expect(() => JSON.parse(e.value) as unknown).not.toThrow();
    }
    const [first, second] = entries.map((e) => JSON.parse(e.value) as { actor: { id: string }; data: { request: { path: string }; error: string } });
    expect(first?.data.request.path).toMatch(/^\/repos\/x\/\[REDACTED:[A-Z_]+\]$/);
    expect(first?.actor.id).toBe('[REDACTED:TICKET]');
    expect(second?.data.error).toMatch(/^provider said: token \[REDACTED:[A-Z_]+\] expired$/);
    expect(verifyChain(entries).ok).toBe(true);
  });
});
