import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEncode } from '../../src/audit/canonical.js';
import { decisionEncoded, decisionRow } from '../../src/audit/decision-row.js';
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
