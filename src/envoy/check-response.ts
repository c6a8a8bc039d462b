import type { Decision } from '../policy/decision.js';
import type { InjectedHeader } from '../secrets/inject.js';

/**
 * Shapes a decision as `envoy.service.auth.v3.CheckResponse` (plain objects in proto field
 * names, serialised by the codec generated from Envoy's protos). How Envoy applies it:
 * ENVOY.md and ext_authz.cc.
 */

/** google.rpc.Code values Envoy reads from `status.code`. */
const OK = 0;
const PERMISSION_DENIED = 7;

export const DECISION_HEADER = 'x-joch-decision-id';

export interface HeaderValueOption {
  header: { key: string; value: string };
  /** Unset or false overwrites; true would append only to an existing header, so never used. */
  append: { value: boolean };
}

/** google.protobuf.Struct with string values only (all our metadata is strings). */
export interface StringStruct {
  fields: Record<string, { stringValue: string }>;
}

/**
 * The `envoy.service.auth.v3.CheckResponse` fields we answer with, in proto field names: what
 * both the grpc-js codec and src/envoy/codec/check-response.ts serialise.
 */
export interface CheckResponseMessage {
  status: { code: number; message?: string };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: string[]; response_headers_to_add: HeaderValueOption[] };
  dynamic_metadata: StringStruct;
}

function set(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append: { value: false } };
}

/**
 * For Envoy's access log: namespace `envoy.filters.http.ext_authz`, as a Struct. protobufjs
 * defines google.protobuf.Value itself with camelCase names, so `stringValue` even though
 * every Envoy field here is snake_case.
 */
function metadata(d: Decision): StringStruct {
  const fields: Record<string, { stringValue: string }> = {
    decision: { stringValue: d.pending ? 'pending' : d.decision },
    decision_id: { stringValue: d.decisionId },
    policy_version: { stringValue: d.policyVersion },
    reason: { stringValue: d.reason },
  };
  if (d.policyId !== null) fields.policy_id = { stringValue: d.policyNamespace ? `${d.policyNamespace}/${d.policyId}` : d.policyId };
  if (d.ruleId !== null) fields.rule_id = { stringValue: d.ruleId };
  return { fields };
}

/** The JSON body of a denied HTTP call: what the agent sees, and nothing secret. */
export function denialBody(d: Decision): string {
  return JSON.stringify({
    error: d.message ?? (d.pending ? 'waiting for human approval' : 'denied by policy'),
    reason: d.reason,
    policyId: d.policyId,
    ruleId: d.ruleId,
    decisionId: d.decisionId,
    ...(d.pending ? { pending: d.pending } : {}),
  });
}

/**
 * Allow (with the decision's header changes) or deny, for the ext_authz HTTP filter. Injected
 * Secrets are set with append=false, which overwrites whatever the agent sent in that header
 * (append=true would be dropped when the agent sent none: ENVOY.md); they are never listed in
 * headers_to_remove, which Envoy applies after the sets.
 */
export function httpCheckResponse(d: Decision, injected?: readonly InjectedHeader[]): CheckResponseMessage {
  if (d.decision === 'deny') {
    return {
      status: { code: PERMISSION_DENIED, message: d.reason },
      denied_response: {
        status: { code: d.status ?? 403 },
        headers: [set('content-type', 'application/json'), set(DECISION_HEADER, d.decisionId)],
        body: denialBody(d),
      },
      dynamic_metadata: metadata(d),
    };
  }
  const mutation = d.modifiedRequest?.headers;
  return {
    status: { code: OK },
    ok_response: {
      headers: [...Object.entries(mutation?.set ?? {}).map(([k, v]) => set(k, v)), ...(injected ?? []).map((h) => set(h.header, h.value)), set(DECISION_HEADER, d.decisionId)],
      headers_to_remove: mutation?.remove ?? [],
      response_headers_to_add: [set(DECISION_HEADER, d.decisionId)],
    },
    dynamic_metadata: metadata(d),
  };
}

/** The network filter only reads the status: OK keeps the connection, anything else closes it. */
export function networkCheckResponse(d: Decision): CheckResponseMessage {
  return {
    status: d.decision === 'deny' ? { code: PERMISSION_DENIED, message: d.message ?? d.reason } : { code: OK },
    dynamic_metadata: metadata(d),
  };
}
