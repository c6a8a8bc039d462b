import type { DecisionContext } from '../context/types.js';
import type { Decision, DecisionFinding, FindingSummary, MatchedRule } from '../policy/decision.js';
import { isValidTenant } from '../state/store.js';
import type { EncodedEvent, TextRedactor } from './record.js';

/**
 * A decision record in compact form: `[time, tenant, actorId, ...values]`, the values in the
 * order of DATA (the data object's keys, sorted), nested objects as arrays in the order of
 * their own keys, absent members `undefined`. Built from references and slices only (no
 * serialising, no hashing): raw on the serving thread, which copies it into the audit thread's
 * ring (src/audit/thread.ts) or, in a `--workers` worker, onto its audit pipe to the primary;
 * then finished (redacted) and written straight to canonical JSON (decisionEncoded) where the
 * audit log runs.
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

/** Members of a listed finding, a finding type and a matched rule, sorted. */
const FINDING_KEYS = ['class', 'detector', 'end', 'path', 'policyId', 'ruleId', 'score', 'start', 'type'] as const satisfies readonly (keyof DecisionFinding)[];
const FINDING_TYPE_KEYS = ['class', 'count', 'score', 'type'] as const satisfies readonly (keyof FindingSummary)[];
const MATCHED_KEYS = ['effect', 'policyId', 'policyNamespace', 'policyVersion', 'ruleId'] as const satisfies readonly (keyof MatchedRule)[];

/** The data object's members in canonical (sorted) key order. emitDecisionRow writes them in this order. */
const DATA: readonly (readonly [string, Shape])[] = [
  ['agent', values('framework', 'id', 'name')],
  ['claimedTenant', 'value'],
  ['decision', 'value'],
  ['decisionId', 'value'],
  ['destination', values('address', 'host', 'port', 'scheme', 'sni')],
  ['edge', 'value'],
  ['environment', 'value'],
  // What annotate rules found: types, counts, scores and places, never the matched text.
  ['findings', { fields: [['listed', { listOf: values(...FINDING_KEYS) }], ['types', { listOf: values(...FINDING_TYPE_KEYS) }]] }],
  ['hook', 'value'],
  ['matched', { listOf: values(...MATCHED_KEYS) }],
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

/** Members of a raw or finished row: time, tenant, actor id, then DATA's. */
export const ROW_LENGTH = 3 + DATA.length;

/** The decision's row. Agent-supplied strings go through `redact` (see finishRow); policy-supplied ones cannot hold a secret. */
export function decisionRow(d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant = 'default', redact?: TextRedactor): DecisionRow {
  return finishRow(rawDecisionRow(d, ctx, edge, time, defaultTenant), redact);
}

/**
 * The row before finishRow: what the serving thread writes (references and slices only) when
 * the audit thread does the rest. `claimedTenant` is not yet cut to its length: a secret must
 * be found whole before it is cut.
 */
export function rawDecisionRow(d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant = 'default'): DecisionRow {
  const out = new RowBuilder();
  emitDecisionRow(out, d, ctx, edge, time, defaultTenant);
  return out.root as DecisionRow;
}

/** Where a row is written member by member: into arrays (RowBuilder), or straight into the audit ring (src/audit/ring.ts). */
export interface RowSink {
  primitive(v: string | number | boolean | null | undefined): void;
  /** A list of `n` members, written next. */
  list(n: number): void;
}

/** The tenant a decision is recorded under: its context's, if valid, else the default. */
export function decisionTenant(ctx: DecisionContext | undefined, defaultTenant: string): string {
  return ctx?.tenant !== undefined && isValidTenant(ctx.tenant) ? ctx.tenant : defaultTenant;
}

/**
 * Writes a decision's raw row (see rawDecisionRow) to `out`, in DATA's order, and returns its
 * tenant. The one place the row's layout is written down: building arrays and writing the
 * ring both go through it.
 */
export function emitDecisionRow(out: RowSink, d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant: string): string {
  const tenant = decisionTenant(ctx, defaultTenant);
  const agent = ctx?.agent;
  const dest = ctx?.destination;
  const m = d.modifiedRequest;
  out.list(ROW_LENGTH);
  out.primitive(time);
  out.primitive(tenant);
  out.primitive(str(agent?.id) ?? str(agent?.name) ?? 'unknown');
  if (agent) strings3(out, agent.framework, agent.id, agent.name);
  else out.primitive(undefined);
  out.primitive(ctx?.tenant !== undefined && ctx.tenant !== tenant ? String(ctx.tenant) : undefined);
  out.primitive(d.decision);
  out.primitive(d.decisionId);
  if (dest) {
    out.list(5);
    out.primitive(str(dest.address));
    out.primitive(str(dest.host));
    out.primitive(num(dest.port));
    out.primitive(str(dest.scheme));
    out.primitive(str(dest.sni));
  } else out.primitive(undefined);
  out.primitive(edge);
  out.primitive(str(ctx?.environment));
  if (d.findings) {
    out.list(2);
    objects(out, d.findings.listed, FINDING_KEYS);
    objects(out, d.findings.types, FINDING_TYPE_KEYS);
  } else out.primitive(undefined);
  out.primitive(str(ctx?.hook));
  objects(out, d.matched, MATCHED_KEYS);
  if (ctx?.mcp) strings3(out, ctx.mcp.direction, ctx.mcp.method, ctx.mcp.server);
  else out.primitive(undefined);
  if (ctx?.model) strings2(out, ctx.model.name, ctx.model.provider);
  else out.primitive(undefined);
  if (m) {
    const set = Object.keys(m.headers?.set ?? {});
    const remove = m.headers?.remove ?? [];
    out.list(2);
    out.list(set.length + remove.length);
    for (const n of set) out.primitive(n);
    for (const n of remove) out.primitive(String(n));
    out.primitive(m.payload !== undefined);
  } else out.primitive(undefined);
  out.primitive(str(ctx?.namespace));
  if (d.pending) {
    out.list(1);
    out.primitive(d.pending.approval);
  } else out.primitive(undefined);
  out.primitive(d.policyId);
  out.primitive(d.policyNamespace);
  out.primitive(d.policyVersion);
  out.primitive(d.reason);
  if (ctx?.request) strings2(out, ctx.request.method, withoutQuery(str(ctx.request.path)));
  else out.primitive(undefined);
  out.primitive(d.ruleId);
  out.primitive(str(ctx?.session?.id));
  out.primitive(d.status);
  out.primitive(str(ctx?.stepId));
  if (ctx?.tool) strings3(out, ctx.tool.name, ctx.tool.server, ctx.tool.sideEffect);
  else out.primitive(undefined);
  out.primitive(str(ctx?.turnId));
  return tenant;
}

/** A list of objects, each as the list of its `keys` members. */
function objects<T>(out: RowSink, items: readonly T[], keys: readonly (keyof T)[]): void {
  out.list(items.length);
  for (const item of items) {
    out.list(keys.length);
    for (const k of keys) out.primitive(item[k] as string | number | undefined);
  }
}

/** A request path without its query string (which can carry secrets). */
function withoutQuery(path: string | undefined): string | undefined {
  const q = path === undefined ? -1 : path.indexOf('?');
  return q < 0 ? path : (path as string).slice(0, q);
}

/** A list of two members: `a` and `b` if strings, else absent. */
function strings2(out: RowSink, a: unknown, b: unknown): void {
  out.list(2);
  out.primitive(str(a));
  out.primitive(str(b));
}

/** A list of three members: `a`, `b` and `c` if strings, else absent. */
function strings3(out: RowSink, a: unknown, b: unknown, c: unknown): void {
  out.list(3);
  out.primitive(str(a));
  out.primitive(str(b));
  out.primitive(str(c));
}

/** A RowSink that builds the row's arrays. */
class RowBuilder implements RowSink {
  root: RowValue[] = [];
  /** Lists still being filled, innermost last, and the next index in each. */
  private readonly open: RowValue[][] = [];
  private readonly next: number[] = [];

  primitive(v: string | number | boolean | null | undefined): void {
    this.put(v);
  }

  list(n: number): void {
    const a = new Array<RowValue>(n);
    if (this.open.length === 0) this.root = a;
    else this.put(a);
    if (n > 0) {
      this.open.push(a);
      this.next.push(0);
    }
  }

  private put(v: RowValue): void {
    const top = this.open.length - 1;
    const i = this.next[top] as number;
    (this.open[top] as RowValue[])[i] = v;
    if (i + 1 === (this.open[top] as RowValue[]).length) {
      this.open.pop();
      this.next.pop();
    } else this.next[top] = i + 1;
  }
}

/** Row indexes (DATA order, from 3) of members the agent supplies: strings, or lists of them (findings aside). */
const AGENT_MEMBERS = [2, 3, 4, 7, 9, 11, 13, 14, 16, 22, 24, 26, 27, 28];
const FINDINGS = 10;
const CLAIMED_TENANT = 4;
/** A listed finding's payload path (the one agent-supplied string of a finding). */
const FINDING_PATH = 3;

/**
 * Redacts a raw row in place and cuts `claimedTenant` to 128 characters. Each string the agent
 * supplied is redacted on its own (so the record stays valid JSON whatever the spans cover):
 * give a remembering redactor (src/log.ts), and the strings that repeat those of recent
 * decisions, most of them, cost a lookup each.
 */
export function finishRow(row: DecisionRow, redact?: TextRedactor): DecisionRow {
  if (redact !== undefined) forAgentStrings(row, redact);
  const claimed = row[CLAIMED_TENANT];
  if (typeof claimed === 'string' && claimed.length > 128) row[CLAIMED_TENANT] = claimed.slice(0, 128);
  return row;
}

/** Calls `f` on each agent-supplied string of the row, putting back what it returns. */
function forAgentStrings(row: DecisionRow, f: (s: string) => string): void {
  for (const i of AGENT_MEMBERS) {
    const v = row[i];
    if (typeof v === 'string') row[i] = f(v);
    else if (Array.isArray(v)) {
      // Nested lists are the row's own (built for it), so they are rewritten in place.
      const list = v as RowValue[];
      for (let k = 0; k < list.length; k++) {
        const x = list[k];
        if (typeof x === 'string') list[k] = f(x);
      }
    }
  }
  const listed = (row[FINDINGS] as readonly RowValue[][] | undefined)?.[0];
  if (listed !== undefined) {
    for (const finding of listed as RowValue[][]) {
      const path = finding[FINDING_PATH];
      if (typeof path === 'string') finding[FINDING_PATH] = f(path);
    }
  }
}

/** The row as an encoded `decision` event: its data written straight to canonical JSON. */
export function decisionEncoded(row: DecisionRow): EncodedEvent {
  if (row[2] !== lastActor) {
    lastActor = row[2];
    lastActorJson = `{"id":${quote(row[2])},"type":"agent"}`;
  }
  return { tenant: row[1], type: 'decision', time: row[0], actorJson: lastActorJson, dataJson: dataMembers(row) };
}

/**
 * The last row's data JSON, and where each member's text lies in it. Consecutive decisions
 * mostly share agent, destination, policy and request (on the audit thread, as the very same
 * strings), so a run of members equal to the last row's is taken as one slice of its JSON:
 * the result is a few pieces (cheap to flatten when written) rather than one per member.
 */
let last = '';
const lastMembers: RowValue[] = [];
/** Offsets in `last` of each member's text (its comma included), -1 when it was absent. */
const lastFrom: number[] = [];
const lastTo: number[] = [];
let lastActor: string | undefined;
let lastActorJson = '';

/** The data object of a row: as `members(row, 3, DATA_FIELDS)`, with runs of members equal to the last row's sliced from its JSON. */
function dataMembers(row: DecisionRow): string {
  let out = '{';
  let length = 1;
  let runFrom = -1;
  let runTo = -1;
  let first = true;
  for (let i = 0; i < DATA_FIELDS.length; i++) {
    const m = row[3 + i];
    if (m === undefined) {
      lastFrom[i] = -1;
      continue;
    }
    const from = lastFrom[i] as number;
    // The same text only if the member is equal and as first (no comma) or not as before.
    if (from >= 0 && (from === 1) === first && sameValue(m, lastMembers[i])) {
      if (runFrom < 0) runFrom = from;
      else if (from !== runTo) {
        out += last.slice(runFrom, runTo);
        runFrom = from;
      }
      runTo = lastTo[i] as number;
      lastFrom[i] = length;
      length += runTo - from;
      lastTo[i] = length;
    } else {
      if (runFrom >= 0) out += last.slice(runFrom, runTo);
      runFrom = -1;
      const f = DATA_FIELDS[i] as Field;
      const text = (first ? f.first : f.next) + encode(m, f.shape);
      out += text;
      lastFrom[i] = length;
      length += text.length;
      lastTo[i] = length;
      lastMembers[i] = m;
    }
    first = false;
  }
  if (runFrom >= 0) out += last.slice(runFrom, runTo);
  last = out + '}';
  return last;
}

/** Equal primitives (NaN never), or lists of equal members. */
function sameValue(a: RowValue, b: RowValue): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!sameValue(a[i] as RowValue, b[i] as RowValue)) return false;
  return true;
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

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
