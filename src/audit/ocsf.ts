import type { AuditRecord } from './record.js';

/**
 * Audit records as OCSF events (schema 1.4.0). The mapping is documented in README.md
 * ("Audit log" → "OCSF export"); in short:
 *
 * - every record → API Activity (6003) with the Security Control profile: `action_id`
 *   (1 Allowed, 2 Denied), `disposition_id` (1 Allowed, 2 Blocked, 11 Corrected, 27 Error),
 *   `policy.uid`/`policy.name`/`policy.version`;
 * - denials, pending approvals, redactions and audit gaps → also a Detection Finding (2004);
 * - AOS step metadata (hook, turnId, stepId) and the chain fields go under `unmapped`.
 */
export type OcsfEvent = Record<string, unknown> & { class_uid: number; type_uid: number };

export const OCSF_VERSION = '1.4.0';
const PRODUCT = { name: 'Joch gateway', vendor_name: 'Joch' };

const Disposition = { allowed: 1, blocked: 2, corrected: 11, error: 27 } as const;
const ERROR_REASONS = new Set(['internal-error', 'evaluation-error', 'malformed-check-request', 'malformed-request', 'identity-mismatch', 'body-too-large']);

interface DecisionData {
  decision?: 'allow' | 'deny' | 'modify';
  reason?: string;
  decisionId?: string;
  policyId?: string | null;
  policyNamespace?: string | null;
  policyVersion?: string;
  ruleId?: string | null;
  pending?: unknown;
  hook?: string;
  turnId?: string;
  stepId?: string;
  edge?: string;
  session?: string;
  agent?: { id?: string; name?: string; framework?: string };
  tool?: { name?: string; server?: string };
  mcp?: { server?: string; method?: string };
  destination?: { host?: string; port?: number; scheme?: string; sni?: string; address?: string };
  request?: { method?: string; path?: string };
  namespace?: string;
  environment?: string;
}

export function toOcsf(r: AuditRecord, productVersion = '0.0.0'): OcsfEvent[] {
  const time = Date.parse(r.time);
  const metadata = (uid: string): Record<string, unknown> => ({
    version: OCSF_VERSION,
    product: { ...PRODUCT, version: productVersion },
    profiles: ['security_control'],
    uid,
    log_name: 'joch-audit',
    sequence: r.seq,
    tenant_uid: r.tenant,
    event_code: r.type,
  });
  const chain = { seq: r.seq, hash: r.hash, prevHash: r.prevHash, type: r.type };
  if (r.type === 'decision') return decisionEvents(r, r.data as DecisionData, time, metadata, chain);
  if (r.type === 'audit.gap') {
    return [finding(time, metadata(`${r.tenant}:${r.seq}`), { uid: `${r.tenant}:${r.seq}`, title: 'Audit records lost: buffer full', desc: `${String(r.data.lost)} audit events between ${String(r.data.from)} and ${String(r.data.to)} were not held` }, 4, Disposition.error, undefined, { joch: chain, gap: r.data })];
  }
  return [adminActivity(r, time, metadata(`${r.tenant}:${r.seq}`), chain)];
}

function decisionEvents(r: AuditRecord, d: DecisionData, time: number, metadata: (uid: string) => Record<string, unknown>, chain: Record<string, unknown>): OcsfEvent[] {
  const error = d.decision === 'deny' && d.reason !== undefined && ERROR_REASONS.has(d.reason);
  const disposition = error ? Disposition.error : d.decision === 'deny' ? Disposition.blocked : d.decision === 'modify' ? Disposition.corrected : Disposition.allowed;
  const denied = d.decision === 'deny';
  const activity = activityFor(d.request?.method);
  const policy = { uid: d.policyId ? `${d.policyNamespace ?? '*'}/${d.policyId}` : 'default', name: d.policyId ?? 'default-decision', version: d.policyVersion ?? 'unknown', desc: d.reason };
  const agentId = d.agent?.id ?? d.agent?.name ?? r.actor.id;
  const unmapped = {
    aos: { hook: d.hook, turnId: d.turnId, stepId: d.stepId, sessionId: d.session },
    joch: { ...chain, edge: d.edge, ruleId: d.ruleId, reason: d.reason, pending: d.pending, namespace: d.namespace, environment: d.environment },
  };
  const api: OcsfEvent = {
    ...apiActivity(activity, time),
    severity_id: denied ? 3 : 1,
    status_id: denied ? 2 : 1,
    status_detail: d.reason,
    message: `${d.decision ?? 'decision'}: ${d.reason ?? ''}`,
    metadata: metadata(d.decisionId ?? `${r.tenant}:${r.seq}`),
    actor: { user: { uid: agentId, name: d.agent?.name, type_id: 99, type: 'Agent' }, app_name: d.agent?.framework },
    api: { operation: d.mcp?.method ?? d.tool?.name ?? d.hook ?? 'request', service: { name: d.mcp?.server ?? d.tool?.server ?? d.destination?.host ?? 'unknown' }, request: { uid: d.decisionId } },
    src_endpoint: { uid: agentId, name: d.agent?.name ?? agentId },
    ...(d.destination ? { dst_endpoint: { hostname: d.destination.host, ip: d.destination.address, port: d.destination.port, svc_name: d.destination.sni } } : {}),
    ...(d.request?.method ? { http_request: { http_method: d.request.method, url: { hostname: d.destination?.host, path: d.request.path, scheme: d.destination?.scheme, port: d.destination?.port } } } : {}),
    action_id: denied ? 2 : 1,
    action: denied ? 'Denied' : 'Allowed',
    disposition_id: disposition,
    disposition: dispositionName(disposition),
    policy,
    is_alert: denied,
    unmapped,
  };
  const findingNeeded = denied || d.decision === 'modify';
  if (!findingNeeded) return [api];
  const title = d.pending ? `Approval required: ${d.reason}` : denied ? `Denied: ${d.reason}` : `Modified: ${d.reason}`;
  return [api, finding(time, metadata(d.decisionId ?? `${r.tenant}:${r.seq}`), { uid: d.decisionId ?? `${r.tenant}:${r.seq}`, title, analytic: { uid: d.ruleId ?? 'default', name: policy.name, type_id: 1, type: 'Rule' }, types: [d.hook ?? 'request'] }, denied ? 3 : 2, disposition, policy, unmapped)];
}

function finding(time: number, metadata: Record<string, unknown>, info: Record<string, unknown>, severity: number, disposition: number, policy: Record<string, unknown> | undefined, unmapped: Record<string, unknown>): OcsfEvent {
  return {
    class_uid: 2004,
    class_name: 'Detection Finding',
    category_uid: 2,
    category_name: 'Findings',
    activity_id: 1,
    activity_name: 'Create',
    type_uid: 200401,
    time,
    severity_id: severity,
    status_id: 1,
    metadata,
    finding_info: info,
    action_id: disposition === Disposition.allowed || disposition === Disposition.corrected ? 1 : 2,
    disposition_id: disposition,
    disposition: dispositionName(disposition),
    ...(policy ? { policy } : {}),
    is_alert: true,
    unmapped,
  };
}

function adminActivity(r: AuditRecord, time: number, metadata: Record<string, unknown>, chain: Record<string, unknown>): OcsfEvent {
  const data = r.data as { method?: string; route?: string; status?: number; ip?: string; reason?: string; environment?: string };
  const denied = r.type === 'admin.denied' || (data.status !== undefined && data.status >= 400);
  const activity = r.type === 'policy.apply' || r.type === 'policy.promote' || r.type === 'policy.rollback' ? { id: 3, name: 'Update' } : activityFor(data.method);
  return {
    ...apiActivity(activity, time),
    severity_id: r.type === 'admin.denied' ? 3 : 1,
    status_id: denied ? 2 : 1,
    metadata,
    actor: { user: { uid: r.actor.id, type_id: r.actor.type === 'operator' ? 1 : 99, type: r.actor.type === 'operator' ? 'User' : 'System' }, ...(r.actor.issuer ? { authorizations: [{ decision: denied ? 'denied' : 'allowed' }] } : {}) },
    api: { operation: r.type.startsWith('policy.') ? r.type : `${data.method ?? ''} ${data.route ?? ''}`.trim() || r.type, service: { name: 'joch-admin' } },
    src_endpoint: { ip: data.ip, name: r.actor.id },
    action_id: r.type === 'admin.denied' ? 2 : 1,
    disposition_id: r.type === 'admin.denied' ? Disposition.blocked : Disposition.allowed,
    unmapped: { joch: { ...chain, data: r.data } },
  };
}

/** The API Activity (6003) class fields every such event starts with. */
function apiActivity(activity: { id: number; name: string }, time: number): OcsfEvent {
  return {
    class_uid: 6003,
    class_name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: 6003 * 100 + activity.id,
    time,
  };
}

function activityFor(method: string | undefined): { id: number; name: string } {
  switch (method?.toUpperCase()) {
    case 'POST':
      return { id: 1, name: 'Create' };
    case 'GET':
    case 'HEAD':
      return { id: 2, name: 'Read' };
    case 'PUT':
    case 'PATCH':
      return { id: 3, name: 'Update' };
    case 'DELETE':
      return { id: 4, name: 'Delete' };
    default:
      return { id: 99, name: 'Other' };
  }
}

function dispositionName(id: number): string {
  return id === 1 ? 'Allowed' : id === 2 ? 'Blocked' : id === 11 ? 'Corrected' : 'Error';
}
