import { describe, expect, it } from 'vitest';
import { toOcsf, type OcsfEvent } from '../../src/audit/ocsf.js';
import { decisionRow } from '../../src/audit/decision-row.js';
import { GENESIS_HASH, type AuditRecord } from '../../src/audit/record.js';
import { chainOne } from './helpers.js';
import type { DecisionContext } from '../../src/context/types.js';
import type { Decision } from '../../src/policy/decision.js';

/**
 * Required attributes, transcribed from the OCSF schema (ocsf/ocsf-schema): base_event
 * (activity_id, category_uid, class_uid, metadata, severity_id, time, type_uid), the metadata
 * object (product, version), api_activity.json (actor, api, src_endpoint), the api object
 * (operation), finding.json (finding_info) and the finding_info object (uid, title).
 */
const BASE = ['activity_id', 'category_uid', 'class_uid', 'metadata', 'severity_id', 'time', 'type_uid'];
const REQUIRED: Record<number, string[]> = { 6003: [...BASE, 'actor', 'api', 'src_endpoint'], 2004: [...BASE, 'finding_info'] };

function checkRequired(e: OcsfEvent): void {
  for (const attr of REQUIRED[e.class_uid] ?? ['unknown class']) expect(e[attr], `${e.class_uid}.${attr}`).toBeDefined();
  const metadata = e.metadata as { product?: { name?: string; vendor_name?: string }; version?: string; profiles?: string[] };
  expect(metadata.product?.name).toBeTruthy();
  expect(metadata.version).toMatch(/^1\.\d+\.\d+$/);
  expect(metadata.profiles).toContain('security_control');
  expect(e.type_uid).toBe(e.class_uid * 100 + (e.activity_id as number));
  expect(e.category_uid).toBe(Math.floor(e.class_uid / 1000));
  expect(Number.isInteger(e.time)).toBe(true);
  if (e.class_uid === 6003) expect((e.api as { operation?: string }).operation).toBeTruthy();
  if (e.class_uid === 2004) expect(e.finding_info).toMatchObject({ uid: expect.any(String), title: expect.any(String) });
  expect([1, 2]).toContain(e.action_id);
  expect([1, 2, 11, 27]).toContain(e.disposition_id);
}

const ctx: DecisionContext = {
  hook: 'toolCallRequest',
  tenant: 'acme',
  namespace: 'payments',
  environment: 'prod',
  agent: { id: 'agent-7', name: 'refunds', framework: 'langgraph' },
  turnId: 'turn-3',
  stepId: 'step-9',
  tool: { name: 'shell', server: 'tools', arguments: { cmd: 'cat /etc/secret' } },
  destination: { host: 'api.example.com', port: 443, scheme: 'https' },
  request: { method: 'POST', path: '/v1/run?api_key=sk-live-123', headers: { authorization: 'Bearer sk-live-123' } },
  payload: { text: 'my card is 4111 1111 1111 1111' },
};

const decision = (over: Partial<Decision>): Decision => ({ decision: 'allow', reason: 'allowed-by-policy', policyId: 'tools', policyNamespace: 'payments', policyVersion: 'v3', ruleId: 'r1', decisionId: 'd-1', matched: [], ...over });
const record = (d: Decision): AuditRecord => chainOne(decisionRow(d, ctx, "authz_http", Date.UTC(2026, 0, 2)), 1, GENESIS_HASH).record;

describe('OCSF export', () => {
  it('maps an allow to API Activity 6003 with the Security Control profile and AOS ids under unmapped', () => {
    const [e, ...rest] = toOcsf(record(decision({})), '0.1.0');
    expect(rest).toEqual([]);
    checkRequired(e!);
    expect(e).toMatchObject({
      class_uid: 6003,
      activity_id: 1,
      type_uid: 600301,
      time: Date.UTC(2026, 0, 2),
      action_id: 1,
      disposition_id: 1,
      policy: { uid: 'payments/tools', name: 'tools', version: 'v3' },
      actor: { user: { uid: 'agent-7', name: 'refunds' }, app_name: 'langgraph' },
      api: { operation: 'shell' },
      metadata: { uid: 'd-1', tenant_uid: 'acme', product: { version: '0.1.0' } },
      unmapped: { aos: { hook: 'toolCallRequest', turnId: 'turn-3', stepId: 'step-9' }, joch: { ruleId: 'r1', edge: 'authz_http' } },
    });
  });

  it('maps deny → Blocked plus a Detection Finding 2004, modify → Corrected, fail-closed errors → Error', () => {
    const deny = toOcsf(record(decision({ decision: 'deny', reason: 'blocked-tool' })));
    expect(deny.map((e) => e.class_uid)).toEqual([6003, 2004]);
    deny.forEach(checkRequired);
    expect(deny[0]).toMatchObject({ action_id: 2, disposition_id: 2, is_alert: true });
    expect(deny[1]).toMatchObject({ type_uid: 200401, finding_info: { uid: 'd-1', title: 'Denied: blocked-tool', analytic: { uid: 'r1', name: 'tools' } }, policy: { version: 'v3' } });

    const modify = toOcsf(record(decision({ decision: 'modify', reason: 'redacted' })));
    modify.forEach(checkRequired);
    expect(modify.map((e) => [e.class_uid, e.disposition_id])).toEqual([
      [6003, 11],
      [2004, 11],
    ]);
    const error = toOcsf(record(decision({ decision: 'deny', reason: 'internal-error', policyId: null, ruleId: null })));
    error.forEach(checkRequired);
    expect(error[0]).toMatchObject({ disposition_id: 27, action_id: 2, policy: { uid: 'default' } });
  });

  it('maps operator records and audit gaps, and never carries payloads, header values, tool arguments or query strings', () => {
    const admin = chainOne({ tenant: 'acme', type: 'policy.apply', actor: { type: 'operator', id: 'alice', issuer: 'https://idp' }, data: { environment: 'prod' } }, 2, 'a'.repeat(64), 0).record;
    const [a] = toOcsf(admin);
    checkRequired(a!);
    expect(a).toMatchObject({ activity_id: 3, actor: { user: { uid: 'alice' } }, api: { operation: 'policy.apply' } });
    const gap = chainOne({ tenant: 'acme', type: 'audit.gap', actor: { type: 'system', id: 'joch' }, data: { lost: 5, from: 'x', to: 'y' } }, 3, 'b'.repeat(64), 0).record;
    const [g] = toOcsf(gap);
    checkRequired(g!);
    expect(g).toMatchObject({ class_uid: 2004, disposition_id: 27 });

    const text = JSON.stringify([record(decision({ decision: 'deny' })), ...toOcsf(record(decision({ decision: 'deny' })))]);
    for (const secret of ['sk-live-123', '4111', '/etc/secret']) expect(text).not.toContain(secret);
    expect(text).toContain('/v1/run');
  });
});
