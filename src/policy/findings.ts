import type { DecisionContext } from '../context/types.js';
import { DATA_CLASSES, DEFAULT_MIN_SCORE, FINDING_TYPES, scanPayload, scanText, type DataClass, type PayloadFinding, type PayloadScanOptions } from '../scan/index.js';
import type { Decision, DecisionFinding, DecisionFindings, FindingSummary } from './decision.js';
import type { Annotate, CompiledPolicy, CompiledRule } from './types.js';

/**
 * Finding types as policies name them: `data.contains`, `redact` and `annotate` take a data
 * class (`pii`, every type of it) or one of the scanners' finding types (`EMAIL`,
 * `AWS_ACCESS_KEY`, `INSTRUCTION_OVERRIDE`…), the names placeholders and audit records use.
 */

const CLASS_OF: ReadonlyMap<string, DataClass> = new Map(DATA_CLASSES.flatMap((c) => FINDING_TYPES[c].map((t): [string, DataClass] => [t, c])));

/** Every name `data.contains`, `redact` and `annotate` accept: the classes, then the types. */
export const FINDING_NAMES: readonly string[] = [...DATA_CLASSES, ...CLASS_OF.keys()];

export function isDataClass(name: string): name is DataClass {
  return (DATA_CLASSES as readonly string[]).includes(name);
}

export function isFindingType(name: string): boolean {
  return CLASS_OF.has(name);
}

/** The finding types a list of classes and types names (a class stands for all its types). */
export function typesNamed(names: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const n of names) {
    if (isDataClass(n)) for (const t of FINDING_TYPES[n]) out.add(t);
    else if (CLASS_OF.has(n)) out.add(n);
  }
  return out;
}

/**
 * What to scan for to find `types`: their classes, and a type filter only when some class is
 * not wanted whole (a filter over every type of the scanned classes would change nothing).
 */
export function scanScope(types: ReadonlySet<string>): { classes: Set<DataClass>; options: PayloadScanOptions | undefined } {
  const classes = new Set<DataClass>();
  for (const t of types) {
    const c = CLASS_OF.get(t);
    if (c !== undefined) classes.add(c);
  }
  const whole = [...classes].every((c) => FINDING_TYPES[c].every((t) => types.has(t)));
  return { classes, options: whole ? undefined : { types } };
}

// Payloads are never changed in place (redaction copies), so a payload object's findings stay
// valid: one scan (per minimum score) serves every type condition and annotate rule of every
// hook deciding it.
const scanned = new WeakMap<object, Map<number, readonly PayloadFinding[]>>();
let lastText: { text: string; minScore: number; findings: readonly PayloadFinding[] } | undefined;

/** Every finding scoring at least `minScore` in a payload, all classes, scanned once. */
export function payloadFindings(payload: unknown, minScore = DEFAULT_MIN_SCORE): readonly PayloadFinding[] {
  if (payload === undefined || payload === null) return [];
  const scan = (): readonly PayloadFinding[] => scanPayload(payload, undefined, minScore === DEFAULT_MIN_SCORE ? undefined : { minScore });
  if (typeof payload === 'object') {
    let byScore = scanned.get(payload);
    if (byScore === undefined) scanned.set(payload, (byScore = new Map()));
    let found = byScore.get(minScore);
    if (found === undefined) byScore.set(minScore, (found = scan()));
    return found;
  }
  if (typeof payload === 'string') {
    if (lastText?.text !== payload || lastText.minScore !== minScore) lastText = { text: payload, minScore, findings: scan() };
    return lastText.findings;
  }
  return scan();
}

/**
 * `data.contains: EMAIL`: whether the payload under decision holds a finding of that type.
 * `classes` is what the path yields, the payload's classes (classified anyway, before any
 * matcher runs): without the type's class no type of it can be there, and the payload is
 * not scanned again. (Classifying scans a class until found, so it finds a superset.)
 */
export function findingTypeMatcher(type: string): (classes: unknown, s: { readonly ctx: DecisionContext }) => boolean {
  const cls = CLASS_OF.get(type);
  return (classes, s) => {
    if (!(classes instanceof Set) || !classes.has(cls)) return false;
    for (const f of payloadFindings(s.ctx.payload)) if (f.type === type) return true;
    return false;
  };
}

/** Findings listed one by one in a decision (and its audit record); the summary counts them all. */
export const MAX_LISTED_FINDINGS = 32;

/**
 * The findings the annotate rules among `fired` select, each credited to the first rule that
 * selects its type; undefined when they select nothing present in the payload.
 */
export function annotate(ctx: DecisionContext, fired: readonly (readonly [CompiledPolicy, CompiledRule])[]): DecisionFindings | undefined {
  const rules: [CompiledPolicy, CompiledRule, Annotate][] = [];
  let minScore = DEFAULT_MIN_SCORE;
  for (const [p, r] of fired) {
    const e = r.effect;
    if ((e.kind !== 'annotate' && e.kind !== 'modify') || e.annotate === undefined) continue;
    rules.push([p, r, e.annotate]);
    minScore = Math.min(minScore, e.annotate.minScore);
  }
  if (rules.length === 0) return undefined;
  const listed: DecisionFinding[] = [];
  const byType = new Map<string, { class: DataClass; count: number; score: number }>();
  for (const f of payloadFindings(ctx.payload, minScore)) {
    const by = rules.find(([, , a]) => a.types.has(f.type) && f.score >= a.minScore);
    if (by === undefined) continue;
    const s = byType.get(f.type);
    if (s === undefined) byType.set(f.type, { class: f.class, count: 1, score: f.score });
    else {
      s.count++;
      s.score = Math.max(s.score, f.score);
    }
    if (listed.length < MAX_LISTED_FINDINGS) {
      listed.push({ type: f.type, class: f.class, detector: f.rule, path: safePointer(f.path), start: f.start, end: f.end, score: f.score, policyId: by[0].name, ruleId: by[1].id });
    }
  }
  if (byType.size === 0) return undefined;
  const types: FindingSummary[] = [...byType].map(([type, s]) => ({ type, class: s.class, count: s.count, score: s.score }));
  return { types: sortSummary(types), listed };
}

/**
 * A JSON pointer whose object keys could themselves be data (`/users/jane@example.com/note`):
 * a segment in which the scanners find anything is written as `*`.
 */
function safePointer(pointer: string): string {
  if (scanText(pointer).length === 0) return pointer;
  return pointer
    .split('/')
    .map((segment) => (scanText(segment.replace(/~1/g, '/').replace(/~0/g, '~')).length > 0 ? '*' : segment))
    .join('/');
}

/** Attaches annotations to a decision: they never change its outcome, reason or rule. */
export function withFindings(d: Decision, found: DecisionFindings | undefined): Decision {
  if (found !== undefined) d.findings = found;
  return d;
}

/** Highest score first, then by type name: the order headers list them in. */
function sortSummary(types: FindingSummary[]): FindingSummary[] {
  return types.sort((a, b) => b.score - a.score || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
}

/**
 * Summaries of several decisions over one payload (the hooks one body is decided under):
 * per type the largest count and the highest score, since each decision saw the same data.
 */
export function mergeSameData(summaries: readonly (readonly FindingSummary[])[]): FindingSummary[] {
  return merge(summaries, Math.max);
}

/** Summaries over different payloads (the messages of a JSON-RPC batch): counts add up. */
export function mergeSeparateData(summaries: readonly (readonly FindingSummary[])[]): FindingSummary[] {
  return merge(summaries, (a, b) => a + b);
}

function merge(summaries: readonly (readonly FindingSummary[])[], count: (a: number, b: number) => number): FindingSummary[] {
  const out = new Map<string, FindingSummary>();
  for (const list of summaries) {
    for (const s of list) {
      const had = out.get(s.type);
      out.set(s.type, had === undefined ? s : { ...had, count: count(had.count, s.count), score: Math.max(had.score, s.score) });
    }
  }
  return sortSummary([...out.values()]);
}

/** The response or request header that names what annotate rules found. */
export const FINDINGS_HEADER = 'x-joch-findings';

/** Longest header value we send; Envoy and most proxies take 8 KiB or more per header. */
export const MAX_FINDINGS_HEADER = 1024;

/**
 * `injection.INSTRUCTION_OVERRIDE;count=1;score=0.90, pii.EMAIL;count=2;score=0.95`: types,
 * counts and highest scores, never the matched text. Items past MAX_FINDINGS_HEADER characters
 * are dropped (lowest scores first) and counted in a final `more=N`.
 */
export function findingsHeaderValue(types: readonly FindingSummary[]): string {
  const items = types.map((t) => `${t.class}.${t.type};count=${t.count};score=${t.score.toFixed(2)}`);
  let value = '';
  for (const [i, item] of items.entries()) {
    const next = value === '' ? item : `${value}, ${item}`;
    const rest = items.length - i - 1;
    // Room is kept for the `more=N` suffix whenever items remain after this one.
    if (next.length + (rest > 0 ? 12 : 0) > MAX_FINDINGS_HEADER) return `${value}${value === '' ? '' : ', '}more=${items.length - i}`;
    value = next;
  }
  return value;
}
