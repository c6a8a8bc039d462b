import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import { isValidTenant } from '../state/store.js';
import type { EncodedEvent, TextRedactor } from './record.js';

/**
 * A decision record in compact form: `[time, tenant, actorId, ...values]`, the values in the
 * order of DATA (the data object's keys, sorted), nested objects as arrays in the order of
 * their own keys, absent members `undefined`. Built on the hot path from references only (no
 * serialising, no hashing); cheap to post to the chain worker (arrays of primitives clone
 * fastest) and turned into canonical JSON there (decisionEncoded).
 *
 * What a record keeps: who, what, where and the outcome, with the AOS step ids. No payloads,
 * header values, tool arguments or query strings: those can carry secrets.
 */
export type DecisionRow = [time: number, tenant: string, actorId: string, ...values: RowValue[]];
type RowValue = string | number | boolean | null | undefined | readonly RowValue[];

/** How a member is written: a primitive (or a list of them), an object (its sorted keys), a list of such objects. */
type Shape = 'value' | { readonly keys: readonly string[] } | { readonly listOf: readonly string[] };

/** The data object's members in canonical (sorted) key order. decisionRow must fill them in this order. */
const DATA: readonly (readonly [string, Shape])[] = [
  ['agent', { keys: ['framework', 'id', 'name'] }],
  ['claimedTenant', 'value'],
  ['decision', 'value'],
  ['decisionId', 'value'],
  ['destination', { keys: ['address', 'host', 'port', 'scheme', 'sni'] }],
  ['edge', 'value'],
  ['environment', 'value'],
  ['hook', 'value'],
  ['matched', { listOf: ['effect', 'policyId', 'policyNamespace', 'policyVersion', 'ruleId'] }],
  ['mcp', { keys: ['direction', 'method', 'server'] }],
  ['model', { keys: ['name', 'provider'] }],
  ['modified', { keys: ['headers', 'payload'] }],
  ['namespace', 'value'],
  ['pending', { keys: ['approval'] }],
  ['policyId', 'value'],
  ['policyNamespace', 'value'],
  ['policyVersion', 'value'],
  ['reason', 'value'],
  ['request', { keys: ['method', 'path'] }],
  ['ruleId', 'value'],
  ['session', 'value'],
  ['status', 'value'],
  ['stepId', 'value'],
  ['tool', { keys: ['name', 'server', 'sideEffect'] }],
  ['turnId', 'value'],
];

/** The decision's row. Agent-supplied strings go through `redact` (see below); policy-supplied ones cannot hold a secret. */
export function decisionRow(d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant = 'default', redact?: TextRedactor): DecisionRow {
  // One pass over everything the agent supplied first: only when that finds something is each
  // string redacted on its own.
  let str = asString;
  if (redact !== undefined && ctx !== undefined) {
    const supplied = agentSupplied(ctx);
    if (redact(supplied) !== supplied) str = (v) => (typeof v === 'string' ? redact(v) : undefined);
  }
  const tenant = ctx?.tenant !== undefined && isValidTenant(ctx.tenant) ? ctx.tenant : defaultTenant;
  const agent = ctx?.agent;
  const dest = ctx?.destination;
  const m = d.modifiedRequest;
  // The order below is DATA's.
  return [
    time,
    tenant,
    str(agent?.id) ?? str(agent?.name) ?? 'unknown',
    agent ? [str(agent.framework), str(agent.id), str(agent.name)] : undefined,
    ctx?.tenant !== undefined && ctx.tenant !== tenant ? str(String(ctx.tenant))?.slice(0, 128) : undefined,
    d.decision,
    d.decisionId,
    dest ? [str(dest.address), str(dest.host), num(dest.port), str(dest.scheme), str(dest.sni)] : undefined,
    edge,
    str(ctx?.environment),
    str(ctx?.hook),
    d.matched.map((r) => [r.effect, r.policyId, r.policyNamespace, r.policyVersion, r.ruleId]),
    ctx?.mcp ? [str(ctx.mcp.direction), str(ctx.mcp.method), str(ctx.mcp.server)] : undefined,
    ctx?.model ? [str(ctx.model.name), str(ctx.model.provider)] : undefined,
    m ? [Object.keys(m.headers?.set ?? {}).concat(m.headers?.remove ?? []).map(String), m.payload !== undefined] : undefined,
    str(ctx?.namespace),
    d.pending ? [d.pending.approval] : undefined,
    d.policyId,
    d.policyNamespace,
    d.policyVersion,
    d.reason,
    ctx?.request ? [str(ctx.request.method), str(ctx.request.path)?.split('?')[0]] : undefined,
    d.ruleId,
    str(ctx?.session?.id),
    d.status,
    str(ctx?.stepId),
    ctx?.tool ? [str(ctx.tool.name), str(ctx.tool.server), str(ctx.tool.sideEffect)] : undefined,
    str(ctx?.turnId),
  ];
}

export function isDecisionRow(item: EncodedEvent | DecisionRow): item is DecisionRow {
  return Array.isArray(item);
}

/** The row as an encoded `decision` event: its data written straight to canonical JSON. */
export function decisionEncoded(row: DecisionRow): EncodedEvent {
  let data = '{';
  for (let i = 0; i < DATA.length; i++) {
    const v = row[i + 3];
    if (v === undefined) continue;
    const [key, shape] = DATA[i] as readonly [string, Shape];
    data += `${data.length > 1 ? ',' : ''}"${key}":${encode(v, shape)}`;
  }
  return { tenant: row[1], type: 'decision', time: row[0], actorJson: `{"id":${JSON.stringify(row[2])},"type":"agent"}`, dataJson: `${data}}` };
}

function encode(v: RowValue, shape: Shape): string {
  if (shape === 'value' || !Array.isArray(v)) return primitive(v);
  if ('listOf' in shape) return `[${v.map((o) => encode(o, { keys: shape.listOf })).join(',')}]`;
  let out = '{';
  for (let i = 0; i < shape.keys.length; i++) {
    const m = v[i];
    if (m === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}"${shape.keys[i] as string}":${primitive(m)}`;
  }
  return `${out}}`;
}

/** As canonicalEncode writes primitives (and arrays of them). */
function primitive(v: RowValue): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : primitive(x))).join(',')}]`;
  return 'null';
}

/** Every string of the context that a decision record keeps, one per line. */
function agentSupplied(ctx: DecisionContext): string {
  const a = ctx.agent;
  const t = ctx.destination;
  return [ctx.tenant, ctx.namespace, ctx.environment, ctx.hook, a?.id, a?.name, a?.framework, t?.host, t?.sni, t?.address, t?.scheme, ctx.request?.method, ctx.request?.path, ctx.tool?.name, ctx.tool?.server, ctx.tool?.sideEffect, ctx.mcp?.method, ctx.mcp?.server, ctx.mcp?.direction, ctx.model?.name, ctx.model?.provider, ctx.session?.id, ctx.turnId, ctx.stepId]
    .filter((v) => typeof v === 'string')
    .join('\n');
}

const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
