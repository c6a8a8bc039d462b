import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import { isValidTenant } from '../state/store.js';
import type { EncodedEvent, TextRedactor } from './record.js';

/**
 * A decision record in compact form: `[time, tenant, actorId, ...values]`, the values in the
 * order of DATA (the data object's keys, sorted), nested objects as arrays in the order of
 * their own keys, absent members `undefined`. Built a turn after the Check from references
 * only (no serialising, no hashing), then written straight to canonical JSON
 * (decisionEncoded): one flat string per record, which a chain worker or a `--workers`
 * primary takes far more cheaply than nested arrays.
 *
 * What a record keeps: who, what, where and the outcome, with the AOS step ids. No payloads,
 * header values, tool arguments or query strings: those can carry secrets.
 */
export type DecisionRow = [time: number, tenant: string, actorId: string, ...values: RowValue[]];
type RowValue = string | number | boolean | null | undefined | readonly RowValue[];

/** How a member is written: a primitive (or a list of them), an object (its members in sorted key order), a list of such. */
type Shape = 'value' | { readonly fields: readonly (readonly [string, Shape])[] } | { readonly listOf: Shape };
/** An object of primitives, keys given sorted. */
const values = (...keys: string[]): Shape => ({ fields: keys.map((k) => [k, 'value'] as const) });

/** The data object's members in canonical (sorted) key order. decisionRow must fill them in this order. */
const DATA: readonly (readonly [string, Shape])[] = [
  ['agent', values('framework', 'id', 'name')],
  ['claimedTenant', 'value'],
  ['decision', 'value'],
  ['decisionId', 'value'],
  ['destination', values('address', 'host', 'port', 'scheme', 'sni')],
  ['edge', 'value'],
  ['environment', 'value'],
  // What annotate rules found: types, counts, scores and places, never the matched text.
  ['findings', { fields: [['listed', { listOf: values('class', 'detector', 'end', 'path', 'policyId', 'ruleId', 'score', 'start', 'type') }], ['types', { listOf: values('class', 'count', 'score', 'type') }]] }],
  ['hook', 'value'],
  ['matched', { listOf: values('effect', 'policyId', 'policyNamespace', 'policyVersion', 'ruleId') }],
  ['mcp', values('direction', 'method', 'server')],
  ['model', values('name', 'provider')],
  ['modified', values('headers', 'payload')],
  ['namespace', 'value'],
  ['pending', values('approval')],
  ['policyId', 'value'],
  ['policyNamespace', 'value'],
  ['policyVersion', 'value'],
  ['reason', 'value'],
  ['request', values('method', 'path')],
  ['ruleId', 'value'],
  ['session', 'value'],
  ['status', 'value'],
  ['stepId', 'value'],
  ['tool', values('name', 'server', 'sideEffect')],
  ['turnId', 'value'],
];

/** The decision's row. Agent-supplied strings go through `redact` (see below); policy-supplied ones cannot hold a secret. */
export function decisionRow(d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant = 'default', redact?: TextRedactor): DecisionRow {
  // One pass over everything the agent supplied first: only when that finds something is each
  // string redacted on its own.
  let str = asString;
  if (redact !== undefined && ctx !== undefined) {
    const supplied = agentSupplied(ctx, d);
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
    d.findings
      ? [
          d.findings.listed.map((f) => [f.class, f.detector, f.end, str(f.path), f.policyId, f.ruleId, f.score, f.start, f.type]),
          d.findings.types.map((t) => [t.class, t.count, t.score, t.type]),
        ]
      : undefined,
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

/** The row as an encoded `decision` event: its data written straight to canonical JSON. */
export function decisionEncoded(row: DecisionRow): EncodedEvent {
  return { tenant: row[1], type: 'decision', time: row[0], actorJson: `{"id":${quote(row[2])},"type":"agent"}`, dataJson: members(row, 3, DATA_FIELDS) };
}

/** Nothing JSON.stringify would escape: no quote, backslash, control character or surrogate. */
const PLAIN = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** A member as written: its key already quoted, with and without the comma before it. */
interface Field {
  readonly first: string;
  readonly next: string;
  readonly shape: Compiled;
}
type Compiled = 'value' | { readonly fields: readonly Field[] } | { readonly listOf: Compiled };

function compile(shape: Shape): Compiled {
  if (shape === 'value') return shape;
  if ('listOf' in shape) return { listOf: compile(shape.listOf) };
  return { fields: fields(shape.fields) };
}
function fields(list: readonly (readonly [string, Shape])[]): Field[] {
  return list.map(([key, shape]) => ({ first: `${quote(key)}:`, next: `,${quote(key)}:`, shape: compile(shape) }));
}
const DATA_FIELDS = fields(DATA);

/** `{...}` of `list` whose values are `v[from]`, `v[from + 1]`, ...; undefined members left out. */
function members(v: readonly RowValue[], from: number, list: readonly Field[]): string {
  let out = '{';
  let first = true;
  for (let i = 0; i < list.length; i++) {
    const m = v[from + i];
    if (m === undefined) continue;
    const f = list[i] as Field;
    out += (first ? f.first : f.next) + encode(m, f.shape);
    first = false;
  }
  return out + '}';
}

function encode(v: RowValue, shape: Compiled): string {
  if (shape === 'value' || !Array.isArray(v)) return primitive(v);
  if ('fields' in shape) return members(v, 0, shape.fields);
  let out = '[';
  for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + encode(v[i], shape.listOf);
  return out + ']';
}

/** As canonicalEncode writes primitives (and arrays of them). */
function primitive(v: RowValue): string {
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) out += (i > 0 ? ',' : '') + (v[i] === undefined ? 'null' : primitive(v[i]));
    return out + ']';
  }
  return 'null';
}

/** JSON.stringify of a string, without its cost for the common plain case. */
function quote(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** Every string of the context that a decision record keeps, one per line (finding paths hold payload keys). */
function agentSupplied(ctx: DecisionContext, d: Decision): string {
  const a = ctx.agent;
  const t = ctx.destination;
  const r = ctx.request;
  const tool = ctx.tool;
  const mcp = ctx.mcp;
  const model = ctx.model;
  // Concatenated, not an array joined: this runs for every decision.
  let out =
    line(ctx.tenant) + line(ctx.namespace) + line(ctx.environment) + line(ctx.hook) + line(a?.id) + line(a?.name) + line(a?.framework) +
    line(t?.host) + line(t?.sni) + line(t?.address) + line(t?.scheme) + line(r?.method) + line(r?.path) +
    line(tool?.name) + line(tool?.server) + line(tool?.sideEffect) + line(mcp?.method) + line(mcp?.server) + line(mcp?.direction) +
    line(model?.name) + line(model?.provider) + line(ctx.session?.id) + line(ctx.turnId) + line(ctx.stepId);
  for (const f of d.findings?.listed ?? []) out += line(f.path);
  return out;
}

const line = (v: unknown): string => (typeof v === 'string' ? `${v}\n` : '');

const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
