import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { Codes, type DocPath, type PathProblem, type PathSegment } from './problems.js';
import { didYouMean } from './suggest.js';

/**
 * JSON Schema validation whose errors read like a person wrote them: unknown fields name the
 * closest known one, `anyOf` failures report the branch the author evidently meant, and
 * every problem carries the document path so the loader can point at file:line:col.
 */
export type SchemaCheck = (value: unknown) => PathProblem[];

export function schemaCheck(schema: object, code: string = Codes.schema): SchemaCheck {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true });
  const validate: ValidateFunction = ajv.compile(schema);
  return (value) => (validate(value) ? [] : explain(validate.errors ?? [], code));
}

function parsePointer(pointer: string): PathSegment[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function explain(errors: ErrorObject[], code: string): PathProblem[] {
  const kept = withoutMisspeltRequired(resolveAlternatives(errors));
  const out: PathProblem[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const p = describe(e, code);
    const key = `${p.at.join('/')}|${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

/** "missing field redact" adds nothing when the same map has "redakt": the typo report says it all. */
function withoutMisspeltRequired(errors: ErrorObject[]): ErrorObject[] {
  const misspelt = new Set<string>();
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue;
    const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    const guess = didYouMean(String((e.params as { additionalProperty?: unknown }).additionalProperty), known);
    if (guess !== undefined) misspelt.add(`${e.instancePath}|${guess}`);
  }
  return errors.filter((e) => !(e.keyword === 'required' && misspelt.has(`${e.instancePath}|${String((e.params as { missingProperty?: unknown }).missingProperty)}`)));
}

/**
 * For each failed anyOf, keep only the errors of the branch whose type matched the data
 * (its errors lie deeper than the anyOf itself); when no branch matched, one summary error.
 */
function resolveAlternatives(errors: ErrorObject[]): ErrorObject[] {
  // Outermost first: an inner alternative's choice must not be undone by its enclosing one's.
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').sort((a, b) => a.schemaPath.length - b.schemaPath.length);
  if (anyOfs.length === 0) return errors;
  const dropped = new Set<ErrorObject>();
  for (const alt of anyOfs) {
    const prefix = `${alt.schemaPath}/`;
    const branches = new Map<string, ErrorObject[]>();
    for (const e of errors) {
      if (!e.schemaPath.startsWith(prefix)) continue;
      const branch = e.schemaPath.slice(prefix.length).split('/')[0] as string;
      branches.set(branch, [...(branches.get(branch) ?? []), e]);
      dropped.add(e);
    }
    const deeper = [...branches.values()].find((errs) => errs.some((e) => e.instancePath.length > alt.instancePath.length));
    const byType = branchesOf(alt.parentSchema).flatMap((b, i) => (acceptsTypeOf(b, alt.data) ? [String(i)] : []));
    const meant = deeper ?? (byType.length === 1 ? branches.get(byType[0] as string) : undefined);
    if (meant) {
      for (const e of meant) dropped.delete(e);
      dropped.add(alt);
    }
  }
  return errors.filter((e) => !dropped.has(e));
}

function describe(e: ErrorObject, code: string): PathProblem {
  const at: DocPath = parsePointer(e.instancePath);
  const base = { code, at, target: 'value' as const, severity: 'error' as const };
  const where = at.length > 0 ? `"${String(at[at.length - 1])}"` : 'the document';
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
      const guess = didYouMean(field, known);
      return {
        ...base,
        at: [...at, field],
        target: 'key',
        message: `unknown field "${field}" in ${where}`,
        hint: guess ? `did you mean "${guess}"?` : known.length > 0 ? `known fields: ${known.join(', ')}` : undefined,
      };
    }
    case 'required':
      return { ...base, message: `${where} is missing required field "${String(params.missingProperty)}"` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const guess = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
      return {
        ...base,
        message: `${JSON.stringify(e.data)} is not allowed here; use one of: ${allowed.join(', ')}`,
        hint: guess ? `did you mean "${guess}"?` : undefined,
      };
    }
    case 'const':
      return { ...base, message: `${where} must be ${JSON.stringify(params.allowedValue)}, not ${JSON.stringify(e.data)}` };
    case 'type':
      return { ...base, message: `${where} must be ${article(String(params.type))}, not ${typeName(e.data)}` };
    case 'pattern': {
      const description = (e.parentSchema as { description?: string } | undefined)?.description;
      return { ...base, message: `${JSON.stringify(e.data)} is not a valid value for ${where}${description ? `: ${description}` : ''}` };
    }
    case 'anyOf':
    case 'oneOf': {
      const needs = requiredAlternatives(e.parentSchema);
      return { ...base, message: needs ? `${where} needs ${needs}` : `${where} has the wrong shape: ${alternatives(e.parentSchema)}` };
    }
    default:
      return { ...base, message: `${where} ${e.message ?? 'is invalid'}` };
  }
}

/** Whether a branch is meant for values of this JSON type (by its type, enum or const). */
function acceptsTypeOf(branch: Record<string, unknown>, data: unknown): boolean {
  const kind = data === null ? 'null' : Array.isArray(data) ? 'array' : typeof data === 'object' ? 'object' : typeof data;
  if (Array.isArray(branch.enum)) return branch.enum.some((v) => typeof v === kind);
  if ('const' in branch) return typeof branch.const === kind;
  const types = ([] as unknown[]).concat(branch.type ?? []);
  return types.includes(kind) || (kind === 'number' && types.includes('integer'));
}

function branchesOf(schema: unknown): Record<string, unknown>[] {
  const s = schema as { anyOf?: unknown[]; oneOf?: unknown[] };
  return (s.anyOf ?? s.oneOf ?? []) as Record<string, unknown>[];
}

/** `"rules" or "allowlists"` when every branch only requires a field. */
function requiredAlternatives(schema: unknown): string | undefined {
  const branches = branchesOf(schema);
  if (!branches.every((b) => Object.keys(b).length === 1 && Array.isArray(b.required))) return undefined;
  return branches.map((b) => (b.required as string[]).map((r) => `"${r}"`).join(' and ')).join(' or ');
}

/** "allow or deny, or a map {redact}" from an anyOf schema, for the no-branch-matched case. */
function alternatives(schema: unknown): string {
  const parts = branchesOf(schema).map((b) => {
    if (Array.isArray(b.enum)) return `one of ${b.enum.map((v) => JSON.stringify(v)).join(', ')}`;
    if ('const' in b) return JSON.stringify(b.const);
    if (Array.isArray(b.required)) return `a map with ${b.required.map((r) => `"${String(r)}"`).join(' and ')}`;
    if (typeof b.properties === 'object' && b.properties !== null) return `a map of ${Object.keys(b.properties).map((k) => `"${k}"`).join(', ')}`;
    return article(String(b.type ?? 'value'));
  });
  return `expected ${parts.join(', or ')}`;
}

function article(type: string): string {
  const names: Record<string, string> = { object: 'a map', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false', null: 'null' };
  return type
    .split(',')
    .map((t) => names[t] ?? t)
    .join(' or ');
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return `${typeof v} ${JSON.stringify(v)}`;
}
