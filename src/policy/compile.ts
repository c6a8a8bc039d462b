import type { Hook } from '../context/types.js';
import { DEFAULT_MIN_SCORE } from '../scan/types.js';
import { contentVersion } from './canonical.js';
import { compileWhen } from './conditions.js';
import { compileEgress } from './egress.js';
import { compileGlob, isGlob } from './glob.js';
import { FINDING_NAMES, isDataClass, isFindingType, typesNamed } from './findings.js';
import { compileHeaderMutation, compileInjections } from './header-mutation.js';
import { globStyle, normalise } from './matchers.js';
import { resolvePath } from './paths.js';
import policySchema from './policy.schema.json' with { type: 'json' };
import { Codes, type DocPath, type ProblemSink } from './problems.js';
import { schemaCheck } from './schema-check.js';
import { compileSelector } from './selector.js';
import { didYouMean } from './suggest.js';
import type { AllowEntry, Annotate, AnnotateSpec, CompiledPolicy, CompiledRule, Effect, PolicyResource, RuleSpec, SourceRef } from './types.js';

const checkPolicySchema = schemaCheck(policySchema);

/** Where a document came from, and how to find a line in it. */
export interface PolicySource {
  readonly file: string;
  readonly line: number;
  lineOf(at: DocPath): number;
}

/** What `redact: true` and `annotate: true` act on when the rule's `data.contains` names nothing. */
const REDACT_BY_DEFAULT: ReadonlySet<string> = typesNamed(['pii', 'secret']);
const ANNOTATE_BY_DEFAULT: ReadonlySet<string> = typesNamed(['pii', 'secret', 'injection']);

/**
 * Validates one Policy document and compiles it to closures. Every problem goes to `sink`
 * (with its document path); returns undefined when there was any error.
 */
export function compilePolicy(value: unknown, source: PolicySource, sink: ProblemSink): CompiledPolicy | undefined {
  const schemaProblems = checkPolicySchema(value);
  for (const p of schemaProblems) sink.error(p.code, p.message, p.at, p.hint, p.target);
  if (schemaProblems.length > 0) return undefined;
  const resource = value as PolicyResource;
  const { metadata, spec } = resource;

  const selector = compileSelector(spec.appliesTo?.agents?.selector, ['spec', 'appliesTo', 'agents', 'selector'], sink);
  const rules = (spec.rules ?? []).map((r, i) => compileRule(r, i, source, sink));
  const allowlists = compileAllowlists(spec.allowlists ?? {}, sink);
  const egress = spec.egress === undefined ? undefined : compileEgress(spec.egress.allow, ['spec', 'egress', 'allow'], sink);
  checkRuleIds(spec.rules ?? [], sink);
  if (!selector || !allowlists || (spec.egress !== undefined && !egress) || !rules.every((r): r is CompiledRule => r !== undefined)) return undefined;

  return {
    name: metadata.name,
    namespace: metadata.namespace,
    tenant: metadata.tenant,
    key: `${metadata.tenant ?? '*'}/${metadata.namespace ?? '*'}/${metadata.name}`,
    version: contentVersion(resource),
    priority: spec.priority ?? 0,
    selector,
    environments: spec.appliesTo?.environments ? new Set(spec.appliesTo.environments) : undefined,
    hooks: spec.appliesTo?.hooks ? new Set<Hook>(spec.appliesTo.hooks) : undefined,
    rules,
    allowlists,
    egress,
    source: { file: source.file, line: source.line },
  };
}

function compileRule(spec: RuleSpec, index: number, source: PolicySource, sink: ProblemSink): CompiledRule | undefined {
  const at = ['spec', 'rules', index];
  const ref: SourceRef = { file: source.file, line: source.lineOf(at) };
  if ((spec.action === undefined) === (spec.require === undefined)) {
    sink.error(
      Codes.rule,
      spec.action === undefined ? `rule has neither "action" nor "require"` : `rule has both "action" and "require"; give it one outcome`,
      at,
      `write "action: allow", "action: deny", "action: {redact: true}", "action: {annotate: true}", "action: {headers: {...}}", "action: {inject: {header, secret}}" or "require: {approval: human}"`,
    );
    return undefined;
  }
  if (spec.status !== undefined && spec.action !== 'deny') {
    sink.error(Codes.rule, `"status" applies to deny rules only`, [...at, 'status'], undefined, 'key');
    return undefined;
  }
  const condition = compileWhen(spec.when ?? {}, [...at, 'when'], sink);
  const effect = effectOf(spec, [...at, 'action'], sink);
  if (!condition || !effect) return undefined;
  return {
    id: spec.id ?? spec.name ?? `rules[${index}]`,
    index,
    effect,
    reason: spec.reason,
    condition,
    source: ref,
  };
}

/** Deny rules answer 403, or 429 when they test spending (cost.*), unless they set `status`. */
function denyStatus(spec: RuleSpec): number {
  if (spec.status !== undefined) return spec.status;
  return /"cost\.(runUsd|dayUsd)"/.test(JSON.stringify(spec.when ?? {})) ? 429 : 403;
}

function effectOf(spec: RuleSpec, at: DocPath, sink: ProblemSink): Effect | undefined {
  if (spec.require) return { kind: 'approval', approval: spec.require.approval };
  const action = spec.action;
  if (action === 'allow') return { kind: 'allow' };
  if (action === 'deny') return { kind: 'deny', status: denyStatus(spec) };
  if (action === undefined) return undefined;
  let headers = action.headers === undefined ? undefined : compileHeaderMutation(action.headers, [...at, 'headers'], sink);
  if (action.headers !== undefined && headers === undefined) return undefined;
  if (action.inject !== undefined) {
    const inject = compileInjections(action.inject, [...at, 'inject'], sink);
    if (inject === undefined) return undefined;
    const clash = inject.find((i) => Object.hasOwn(headers?.set ?? {}, i.header) || (headers?.remove ?? []).includes(i.header));
    if (clash) {
      sink.error(Codes.headers, `"${clash.header}" is both injected and changed under "headers" in this rule; injection already replaces the agent's value`, [...at, 'inject']);
      return undefined;
    }
    headers = { set: headers?.set ?? {}, remove: headers?.remove ?? [], inject };
  }
  if (!knownNames(action.redact, [...at, 'redact'], sink)) return undefined;
  const redact = action.redact === undefined ? undefined : action.redact === true ? namedBy(spec.when) ?? REDACT_BY_DEFAULT : typesNamed(action.redact);
  const annotate = action.annotate === undefined ? undefined : annotateOf(action.annotate, spec.when, [...at, 'annotate'], sink);
  if (annotate === null) return undefined;
  if (annotate !== undefined && redact === undefined && headers === undefined) return { kind: 'annotate', annotate };
  return { kind: 'modify', ...(redact ? { redact } : {}), ...(annotate ? { annotate } : {}), ...(headers ? { headers } : {}) };
}

/** `annotate: true | [names] | {types?, minScore?}`; null when a name is unknown. */
function annotateOf(spec: true | string[] | AnnotateSpec, when: RuleSpec['when'], at: DocPath, sink: ProblemSink): Annotate | null {
  const long = spec !== true && !Array.isArray(spec);
  const names = long ? spec.types : spec;
  if (!knownNames(names, long ? [...at, 'types'] : at, sink)) return null;
  return {
    types: Array.isArray(names) ? typesNamed(names) : namedBy(when) ?? ANNOTATE_BY_DEFAULT,
    minScore: (long ? spec.minScore : undefined) ?? DEFAULT_MIN_SCORE,
  };
}

/** Every name in a `redact` or `annotate` list is a data class or a finding type. */
function knownNames(names: true | string[] | undefined, at: DocPath, sink: ProblemSink): boolean {
  if (!Array.isArray(names)) return true;
  let ok = true;
  for (const [i, name] of names.entries()) {
    if (isDataClass(name) || isFindingType(name)) continue;
    const guess = didYouMean(name, FINDING_NAMES);
    sink.error(Codes.rule, `"${name}" is neither a data class nor a finding type`, [...at, i], guess ? `did you mean "${guess}"?` : `write pii, secret, injection or a finding type: ${FINDING_NAMES.filter(isFindingType).join(', ')}`);
    ok = false;
  }
  return ok;
}

/**
 * `redact: true` and `annotate: true` act on what the rule's own `data.contains` names (the
 * seed's `data.contains: pii` → redact PII; `data.contains: EMAIL` → only emails); undefined
 * when it names no class or type there.
 */
function namedBy(when: Record<string, unknown> | undefined): ReadonlySet<string> | undefined {
  const named = when?.['data.contains'];
  const list = Array.isArray(named) ? named : [named];
  const types = typesNamed(list.filter((c): c is string => typeof c === 'string'));
  return types.size > 0 ? types : undefined;
}

function checkRuleIds(rules: RuleSpec[], sink: ProblemSink): void {
  const seen = new Map<string, number>();
  for (const [i, r] of rules.entries()) {
    if (r.id === undefined) continue;
    const first = seen.get(r.id);
    if (first !== undefined) sink.error(Codes.duplicate, `rule id "${r.id}" is already used by rules[${first}] of this policy`, ['spec', 'rules', i, 'id']);
    else seen.set(r.id, i);
  }
}

function compileAllowlists(lists: Record<string, (string | number)[]>, sink: ProblemSink): Map<string, AllowEntry[]> | undefined {
  const out = new Map<string, AllowEntry[]>();
  let ok = true;
  for (const [path, entries] of Object.entries(lists)) {
    const at = ['spec', 'allowlists', path];
    const resolved = resolvePath(path);
    if (!resolved.ok) {
      const guess = didYouMean(path, ['model.provider', 'model.name', 'destination.host', 'destination.sni', 'tool.name', 'tool.server', 'mcp.server']);
      sink.error(Codes.allowlist, resolved.message, at, guess ? `did you mean "${guess}"?` : undefined, 'key');
      ok = false;
      continue;
    }
    const { kind } = resolved.def;
    if (kind === 'number' || kind === 'classes' || kind === 'hook') {
      sink.error(Codes.allowlist, `"${path}" cannot have an allow-list; allow-lists hold names and hosts`, at, undefined, 'key');
      ok = false;
      continue;
    }
    const compiled: AllowEntry[] = [];
    for (const [i, entry] of entries.entries()) {
      const value = normalise(kind, String(entry));
      try {
        compiled.push(isGlob(value) ? compileGlob(value, globStyle(kind)) : (v: string) => v === value);
      } catch (err) {
        sink.error(Codes.allowlist, `invalid allow-list entry "${value}": ${(err as Error).message}`, [...at, i]);
        ok = false;
      }
    }
    out.set(path, compiled);
  }
  return ok ? out : undefined;
}
