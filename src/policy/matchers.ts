import { HOOKS } from '../context/types.js';
import { DATA_CLASSES } from '../scan/types.js';
import type { EvalState } from './eval-state.js';
import { FINDING_NAMES, findingTypeMatcher, isFindingType } from './findings.js';
import { compileGlob, isGlob, type GlobStyle } from './glob.js';
import type { PathDef, ValueKind } from './paths.js';
import { Codes, type DocPath, type ProblemSink } from './problems.js';
import { compileSafeRegex } from './regex.js';
import { didYouMean } from './suggest.js';

/**
 * A compiled matcher: does the value found at a condition path satisfy it?
 * Value matchers (equality, globs, regexes, comparisons, lists, allow-lists) are false when the
 * value is absent; `exists` tests presence; `not` is plain logical negation.
 */
export type Matcher = (value: unknown, s: EvalState) => boolean;

export const NOT_ALLOWLISTED = 'not-allowlisted';
export const ALLOWLISTED = 'allowlisted';

const OPERATORS = ['equals', 'in', 'notIn', 'glob', 'regex', 'exists', 'gt', 'gte', 'lt', 'lte', 'ne', 'not', 'any', 'all', 'allowlisted'] as const;
type Operator = (typeof OPERATORS)[number];
const NUMERIC_OPS: ReadonlySet<string> = new Set(['gt', 'gte', 'lt', 'lte', 'ne']);

/** `">5"`, `">= 0.5"`, `"<10"`, `"!=3"`, `"==2"`, or a bare number. */
const COMPARISON = /^\s*(>=|<=|>|<|!=|==|=)?\s*(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;

interface MatcherCompiler {
  readonly def: PathDef;
  readonly sink: ProblemSink;
}

export function compileMatcher(def: PathDef, spec: unknown, at: DocPath, sink: ProblemSink): Matcher | undefined {
  return compile({ def, sink }, spec, at);
}

function compile(c: MatcherCompiler, spec: unknown, at: DocPath): Matcher | undefined {
  if (Array.isArray(spec)) return anyOf(c, spec, at, 'a list');
  if (spec !== null && typeof spec === 'object') return compileOperators(c, spec as Record<string, unknown>, at);
  return compileScalar(c, spec, at);
}

function anyOf(c: MatcherCompiler, items: unknown[], at: DocPath, what: string): Matcher | undefined {
  if (items.length === 0) {
    c.sink.error(Codes.matcher, `${what} of values must not be empty (it could never match)`, at);
    return undefined;
  }
  const parts = items.map((item, i) => compile(c, item, [...at, i]));
  if (!parts.every(isDefined)) return undefined;
  return (v, s) => {
    for (const m of parts) if (m(v, s)) return true;
    return false;
  };
}

function compileScalar(c: MatcherCompiler, spec: unknown, at: DocPath): Matcher | undefined {
  const { kind, path } = c.def;
  if (spec === null || spec === undefined) {
    c.sink.error(Codes.matcher, `"${path}" has no value to match`, at, 'to test that a field is absent, write {exists: false}');
    return undefined;
  }
  if (typeof spec === 'boolean') {
    c.sink.error(Codes.matcher, `"${path}" holds ${describeKind(kind)}, not a boolean`, at, `to test presence, write {exists: ${spec}}`);
    return undefined;
  }
  if (typeof spec === 'string' && (spec === NOT_ALLOWLISTED || spec === ALLOWLISTED)) {
    return allowlistMatcher(c, spec === ALLOWLISTED, at);
  }
  switch (kind) {
    case 'number':
      return numberScalar(c, spec, at);
    case 'classes':
      return classMatcher(c, spec, at);
    case 'hook':
      return hookMatcher(c, spec, at);
    default:
      return stringScalar(c, typeof spec === 'number' ? String(spec) : (spec as string), at, true);
  }
}

function numberScalar(c: MatcherCompiler, spec: unknown, at: DocPath): Matcher | undefined {
  if (typeof spec === 'number') return (v) => v === spec;
  const m = COMPARISON.exec(String(spec));
  if (!m) {
    c.sink.error(
      Codes.matcher,
      `"${c.def.path}" is a number; "${String(spec)}" is neither a number nor a comparison`,
      at,
      'write a number or a comparison such as ">5", ">=0.5", "<10", "!=3"',
    );
    return undefined;
  }
  const n = Number(m[2]);
  switch (m[1]) {
    case '>':
      return (v) => typeof v === 'number' && v > n;
    case '>=':
      return (v) => typeof v === 'number' && v >= n;
    case '<':
      return (v) => typeof v === 'number' && v < n;
    case '<=':
      return (v) => typeof v === 'number' && v <= n;
    case '!=':
      return (v) => typeof v === 'number' && v !== n;
    default:
      return (v) => v === n;
  }
}

function classMatcher(c: MatcherCompiler, spec: unknown, at: DocPath): Matcher | undefined {
  const name = String(spec);
  if (isFindingType(name)) return findingTypeMatcher(name);
  if (!(DATA_CLASSES as readonly string[]).includes(name)) {
    const hint = didYouMean(name, FINDING_NAMES);
    c.sink.error(
      Codes.matcher,
      `"${name}" is neither a data class nor a finding type; data.contains takes ${DATA_CLASSES.join(', ')} or a finding type such as EMAIL, AWS_ACCESS_KEY, INSTRUCTION_OVERRIDE`,
      at,
      hint ? `did you mean "${hint}"?` : undefined,
    );
    return undefined;
  }
  return (v) => v instanceof Set && v.has(name);
}

function hookMatcher(c: MatcherCompiler, spec: unknown, at: DocPath): Matcher | undefined {
  const name = String(spec);
  if (!(HOOKS as readonly string[]).includes(name)) {
    const hint = didYouMean(name, HOOKS);
    c.sink.error(Codes.matcher, `"${name}" is not a hook; hooks are ${HOOKS.join(', ')}`, at, hint ? `did you mean "${hint}"?` : undefined);
    return undefined;
  }
  return (v) => v === name;
}

/** A plain string: a glob when it contains `*` (and globs are allowed here), else equality. */
function stringScalar(c: MatcherCompiler, raw: string, at: DocPath, globs: boolean): Matcher | undefined {
  const value = normalise(c.def.kind, raw);
  if (globs && isGlob(value)) return globMatcher(c, value, at);
  return (v) => v === value;
}

function globMatcher(c: MatcherCompiler, pattern: string, at: DocPath): Matcher | undefined {
  try {
    const g = compileGlob(normalise(c.def.kind, pattern), globStyle(c.def.kind));
    return (v) => typeof v === 'string' && g(v);
  } catch (err) {
    c.sink.error(Codes.matcher, `invalid glob "${pattern}": ${(err as Error).message}`, at);
    return undefined;
  }
}

function allowlistMatcher(c: MatcherCompiler, wanted: boolean, at: DocPath): Matcher | undefined {
  const { kind, path } = c.def;
  if (kind === 'number' || kind === 'classes' || kind === 'hook') {
    c.sink.error(Codes.matcher, `allow-lists apply to names and hosts; "${path}" cannot be allow-listed`, at);
    return undefined;
  }
  return (v, s) => typeof v === 'string' && s.allowlisted(path, v) === wanted;
}

function compileOperators(c: MatcherCompiler, spec: Record<string, unknown>, at: DocPath): Matcher | undefined {
  const keys = Object.keys(spec);
  if (keys.length === 0) {
    c.sink.error(Codes.matcher, `an empty matcher object matches nothing useful`, at, `use one of: ${OPERATORS.join(', ')}`);
    return undefined;
  }
  const parts: Matcher[] = [];
  let ok = true;
  for (const key of keys) {
    const m = compileOperator(c, key, spec[key], [...at, key]);
    if (m) parts.push(m);
    else ok = false;
  }
  if (!ok) return undefined;
  if (parts.length === 1) return parts[0];
  return (v, s) => {
    for (const m of parts) if (!m(v, s)) return false;
    return true;
  };
}

function compileOperator(c: MatcherCompiler, key: string, arg: unknown, at: DocPath): Matcher | undefined {
  if (!(OPERATORS as readonly string[]).includes(key)) {
    const hint = didYouMean(key, OPERATORS);
    c.sink.error(
      Codes.matcher,
      `unknown matcher operator "${key}"`,
      at,
      hint ? `did you mean "${hint}"?` : `operators are ${OPERATORS.join(', ')}`,
      'key',
    );
    return undefined;
  }
  const op = key as Operator;
  const { kind, path } = c.def;
  if (NUMERIC_OPS.has(op)) {
    if (kind !== 'number') return fail(c, at, `"${op}" compares numbers; "${path}" holds ${describeKind(kind)}`);
    if (typeof arg !== 'number' || !Number.isFinite(arg)) return fail(c, at, `"${op}" takes a number`);
    return numberScalar(c, `${{ gt: '>', gte: '>=', lt: '<', lte: '<=', ne: '!=' }[op as 'gt']}${arg}`, at);
  }
  switch (op) {
    case 'equals':
      if (arg === null || typeof arg === 'object' || typeof arg === 'boolean') return fail(c, at, `"equals" takes a string or number`);
      if (kind === 'number') return typeof arg === 'number' ? (v) => v === arg : fail(c, at, `"${path}" is a number`);
      if (kind === 'classes' || kind === 'hook') return compileScalar(c, arg, at);
      return stringScalar(c, String(arg), at, false);
    case 'in':
    case 'notIn': {
      if (!Array.isArray(arg) || arg.length === 0) return fail(c, at, `"${op}" takes a non-empty list`);
      const set = new Set<unknown>();
      for (const [i, item] of arg.entries()) {
        if (item === null || typeof item === 'object' || typeof item === 'boolean') return fail(c, [...at, i], `list items must be strings or numbers`);
        set.add(kind === 'number' ? item : normalise(kind, String(item)));
      }
      if (kind === 'classes') return fail(c, at, `data.contains takes a class or a list of classes, not "${op}"`);
      return op === 'in' ? (v) => set.has(v) : (v) => v !== undefined && !set.has(v);
    }
    case 'glob': {
      if (kind === 'number' || kind === 'classes' || kind === 'hook') return fail(c, at, `globs apply to strings; "${path}" holds ${describeKind(kind)}`);
      const patterns = Array.isArray(arg) ? arg : [arg];
      if (patterns.length === 0 || !patterns.every((p) => typeof p === 'string')) return fail(c, at, `"glob" takes a string or a list of strings`);
      const globs = patterns.map((p, i) => globMatcher(c, p as string, Array.isArray(arg) ? [...at, i] : at));
      if (!globs.every(isDefined)) return undefined;
      return (v, s) => globs.some((g) => g(v, s));
    }
    case 'regex': {
      if (kind === 'number' || kind === 'classes') return fail(c, at, `regexes apply to strings; "${path}" holds ${describeKind(kind)}`);
      if (typeof arg !== 'string') return fail(c, at, `"regex" takes a string`);
      try {
        const re = compileSafeRegex(arg);
        return (v) => typeof v === 'string' && re(v);
      } catch (err) {
        c.sink.error(Codes.regex, (err as Error).message, at);
        return undefined;
      }
    }
    case 'exists':
      if (typeof arg !== 'boolean') return fail(c, at, `"exists" takes true or false`);
      if (kind === 'classes') return fail(c, at, `data.contains always has a value; test a class instead`);
      return arg ? (v) => v !== undefined && v !== null : (v) => v === undefined || v === null;
    case 'allowlisted':
      if (typeof arg !== 'boolean') return fail(c, at, `"allowlisted" takes true or false`);
      return allowlistMatcher(c, arg, at);
    case 'not': {
      const inner = compile(c, arg, at);
      return inner && ((v, s) => !inner(v, s));
    }
    case 'any': {
      if (!Array.isArray(arg)) return fail(c, at, `"any" takes a list of matchers`);
      return anyOf(c, arg, at, '"any"');
    }
    case 'all': {
      if (!Array.isArray(arg) || arg.length === 0) return fail(c, at, `"all" takes a non-empty list of matchers`);
      const parts = arg.map((item, i) => compile(c, item, [...at, i]));
      if (!parts.every(isDefined)) return undefined;
      return (v, s) => parts.every((m) => m(v, s));
    }
  }
}

function fail(c: MatcherCompiler, at: DocPath, message: string): undefined {
  c.sink.error(Codes.matcher, message, at);
  return undefined;
}

function isDefined<T>(x: T | undefined): x is T {
  return x !== undefined;
}

export function globStyle(kind: ValueKind): GlobStyle {
  return kind === 'host' ? 'host' : kind === 'path' ? 'path' : 'text';
}

/** Pattern-side normalisation mirrors what `normalizeContext` does to the values. */
export function normalise(kind: ValueKind, value: string): string {
  if (kind === 'host') return value.toLowerCase().replace(/\.$/, '');
  if (kind === 'method') return value.toUpperCase();
  return value;
}

function describeKind(kind: ValueKind): string {
  switch (kind) {
    case 'number':
      return 'a number';
    case 'classes':
      return 'a set of data classes';
    case 'hook':
      return 'a hook name';
    case 'host':
      return 'a host name';
    case 'path':
      return 'a URL path';
    case 'method':
      return 'an HTTP method';
    default:
      return 'a string';
  }
}
