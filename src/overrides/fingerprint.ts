import { createHash } from 'node:crypto';
import type { DecisionContext } from '../context/types.js';
import { canonicalJson } from '../policy/canonical.js';

/**
 * The request fingerprint: what makes a later request "the same request" as a denied one, so
 * that a one-shot approval or override lets exactly that request through. SHA-256 over the
 * canonical JSON of the decision context without what changes between two sends of the same
 * call: request headers (tokens, trace and request ids), session, turn and step ids, and cost
 * counters. Everything else counts: tenant, namespace, environment, hook, agent, destination,
 * method and path (query included), tool and its arguments, MCP / A2A / model fields and the
 * payload. A retry with other arguments or another body is another request. A JSON-RPC payload
 * (MCP, A2A on ext_proc) counts without its `id` and MCP progress token: a client numbers
 * every send anew, so the retry of an approved call carries other ones.
 */
export function requestFingerprint(ctx: DecisionContext): string {
  const { session: _s, turnId: _t, stepId: _st, cost: _c, request, ...rest } = ctx;
  const base = request?.method === undefined && request?.path === undefined ? rest : { ...rest, request: { method: request.method, path: request.path } };
  const stable = isJsonRpc(ctx.payload) ? { ...base, payload: withoutSendIds(ctx.payload) } : base;
  return createHash('sha256').update(canonicalJson(stable)).digest('hex');
}

type JsonRpc = Record<string, unknown> & { jsonrpc: '2.0' };

function isJsonRpc(v: unknown): v is JsonRpc {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && (v as Record<string, unknown>)['jsonrpc'] === '2.0';
}

/** The message without what a client sets per send: its id and `params._meta.progressToken`. */
function withoutSendIds(msg: JsonRpc): Record<string, unknown> {
  const { id: _id, ...rest } = msg;
  const params = rest['params'];
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return rest;
  const meta = (params as Record<string, unknown>)['_meta'];
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || !('progressToken' in meta)) return rest;
  const { progressToken: _p, ...keep } = meta as Record<string, unknown>;
  return { ...rest, params: { ...params, _meta: keep } };
}

/** Who a grant is for: the same agent, policy and rule, and a request with the same fingerprint. */
export interface GrantSubject {
  readonly tenant: string;
  readonly agent: string | null;
  readonly policyNamespace: string | null;
  readonly policyId: string;
  readonly ruleId: string;
  readonly fingerprint: string;
}

/** The store id of a grant: a hash of its subject, so the hot path finds it with one lookup. */
export function grantKey(s: GrantSubject): string {
  return createHash('sha256').update(canonicalJson([s.tenant, s.agent, s.policyNamespace, s.policyId, s.ruleId, s.fingerprint])).digest('hex');
}

/** The agent named by a context (id, else name), or null. */
export function agentOf(ctx: DecisionContext): string | null {
  return ctx.agent?.id ?? ctx.agent?.name ?? null;
}
