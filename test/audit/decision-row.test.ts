import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEncode } from '../../src/audit/canonical.js';
import { decisionEncoded, decisionRow } from '../../src/audit/decision-row.js';
import { chainBatch, GENESIS_HASH, type AuditRecord } from '../../src/audit/record.js';
import { verifyChain } from '../../src/audit/verify.js';
import type { Decision } from '../../src/policy/decision.js';

const decision: Decision = { decision: 'allow', reason: 'r', policyId: 'p', policyNamespace: 'ns', policyVersion: 'v1', ruleId: 'x', decisionId: 'd', matched: [] };

describe('decision rows written as JSON', () => {
  // First in this file: the encoder remembers the last actor, and an empty id must not pass for "none yet".
  it('writes the actor of every row, an empty agent id included, whatever came before', () => {
    for (const id of ['', 'x', '', '', 'x']) {
      const row = decisionRow(decision, { hook: 'egress', agent: { id, labels: {} } }, 'authz_http', 0);
      expect(JSON.parse(decisionEncoded(row).actorJson)).toEqual({ id, type: 'agent' });
    }
  });

  it('a record larger than the chain buffer, between records sharing its other members, is written whole (the buffer grows)', () => {
    const ctx = (path: string) => ({ hook: 'egress' as const, tenant: 'acme', agent: { name: 'bot', labels: {} }, destination: { host: 'h.example', port: 443 }, request: { method: 'GET', path } });
    const big = `/${'ä'.repeat(200_000)}`; // 400,000 UTF-8 bytes: past the 256 KiB scratch buffer
    const rows = [decisionRow(decision, ctx('/a'), 'authz_http', 0), decisionRow({ ...decision, decisionId: 'd2' }, ctx(big), 'authz_http', 0), decisionRow({ ...decision, decisionId: 'd3' }, ctx(big), 'authz_http', 0), decisionRow(decision, ctx('/a'), 'authz_http', 0)];
    const { records } = chainBatch(rows.map(decisionEncoded), 1, GENESIS_HASH);
    const parsed = records.map((r) => JSON.parse(r.toString('utf8')) as AuditRecord);
    expect(records.map((r) => r.toString('utf8'))).toEqual(parsed.map((r) => canonicalEncode(r)));
    expect(parsed.map((r) => (r.data.request as { path: string }).path)).toEqual(['/a', big, big, '/a']);
    expect(parsed.map((r) => r.data.decisionId)).toEqual(['d', 'd2', 'd3', 'd']);
    expect(verifyChain(records.map((r, i) => ({ seq: i + 1, value: r.toString('utf8') })))).toMatchObject({ ok: true });
  });

  it('strings that need escaping (quotes, backslashes, controls, lone surrogates, U+2028) come out as JSON.stringify writes them', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'grapheme-composite', maxLength: 20 }), (a, b) => {
        const tricky = `${a}"\\\n\u0001\u2028${b}\ud800`;
        const e = decisionEncoded(decisionRow({ ...decision, reason: tricky }, { hook: 'egress', agent: { name: a, labels: {} }, request: { method: b, path: tricky } }, 'authz_http', 0));
        const data = JSON.parse(e.dataJson) as Record<string, unknown>;
        expect(e.dataJson).toBe(canonicalEncode(data));
        expect(data.reason).toBe(tricky);
        expect(JSON.parse(e.actorJson)).toEqual({ id: a, type: 'agent' });
      }),
      { numRuns: 300 },
    );
  });
});
