import type { EvalState } from './eval-state.js';
import { acceptedStrings, compileMatcher, requiredInfix, requiredPrefix, requiredSuffix, shapeOf, type Matcher, type MatcherShape } from './matchers.js';
import { knownPathNames, resolvePath, type PathDef } from './paths.js';
import { Codes, type DocPath, type ProblemSink } from './problems.js';
import { didYouMean } from './suggest.js';

/** How one condition came out, for `--explain`. */
export interface ConditionTrace {
  readonly path?: string;
  readonly combinator?: 'all' | 'any' | 'not';
  readonly expected?: unknown;
  readonly actual?: unknown;
  readonly result: boolean;
  readonly children?: ConditionTrace[];
}

/**
 * A compiled `when`: `test` is the hot path; `explain` re-evaluates and says why.
 *
 * Conditions are small class instances rather than closures: a decision over many policies
 * is bound by the memory it touches (measured: bench/policy-eval.ts), and a leaf that holds
 * its operand inline costs one object where a closure chain costs four or five.
 */
export interface Condition {
  test(s: EvalState): boolean;
  explain(s: EvalState): ConditionTrace;
  /**
   * Necessary conditions, from its top-level conjuncts (all must hold): a path's value is one
   * of a fixed set of strings, ends with a host suffix, starts with a glob's leading text, or
   * is a number past a bound; or an `any` needs one of its branches' requirements. The policy
   * set indexes rules by them (see candidates.ts); they never decide anything on their own.
   */
  readonly requires: readonly Requirement[];
}

export type Requirement = OneOf | Bound | Suffix | Prefix | Either;

/** The value must be a string starting with `prefix`. */
export interface Prefix {
  readonly kind: 'prefix';
  readonly path: string;
  readonly get: PathDef['get'];
  readonly prefix: string;
}

/** At least one of these holds (an `any` whose every branch has a requirement). */
export interface Either {
  readonly kind: 'either';
  readonly options: readonly Exclude<Requirement, Either>[];
}

export interface OneOf {
  readonly kind: 'oneOf';
  readonly path: string;
  readonly get: PathDef['get'];
  readonly values: ReadonlySet<string>;
}

/** The value must be a string ending with `suffix` (which starts with `.`), with more before it. */
export interface Suffix {
  readonly kind: 'suffix';
  readonly path: string;
  readonly get: PathDef['get'];
  readonly suffix: string;
}

/** The value must be a number `op` `n` (e.g. `gt` 5: above 5). */
export interface Bound {
  readonly kind: 'bound';
  readonly path: string;
  readonly get: PathDef['get'];
  readonly op: 'gt' | 'gte' | 'lt' | 'lte';
  readonly n: number;
}

const COMBINATORS = ['all', 'any', 'not'] as const;

/** Header values that are credentials are never echoed by `--explain`. */
const CREDENTIAL_HEADERS = /^request\.headers\.(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key)$/;

/** Compiles a `when` map: every key must hold. Keys are condition paths or `all`/`any`/`not`. */
export function compileWhen(when: unknown, at: DocPath, sink: ProblemSink): Condition | undefined {
  if (when === null || typeof when !== 'object' || Array.isArray(when)) {
    sink.error(Codes.schema, `"when" must be a map of condition paths to matchers`, at);
    return undefined;
  }
  const parts: Condition[] = [];
  let ok = true;
  for (const [key, spec] of Object.entries(when as Record<string, unknown>)) {
    const c = compileEntry(key, spec, [...at, key], sink);
    if (c) parts.push(c);
    else ok = false;
  }
  return ok ? allOf(parts) : undefined;
}

function compileEntry(key: string, spec: unknown, at: DocPath, sink: ProblemSink): Condition | undefined {
  if (key === 'not') {
    const inner = compileWhen(spec, at, sink);
    return inner && new Not(inner);
  }
  if (key === 'all' || key === 'any') {
    if (!Array.isArray(spec) || spec.length === 0) {
      sink.error(Codes.schema, `"${key}" takes a non-empty list of condition maps`, at);
      return undefined;
    }
    const items = spec.map((item, i) => compileWhen(item, [...at, i], sink));
    if (!items.every((c): c is Condition => c !== undefined)) return undefined;
    return key === 'all' ? allOf(items) : anyOf(items);
  }
  const resolved = resolvePath(key);
  if (!resolved.ok) {
    const guess = didYouMean(key, [...knownPathNames(), ...COMBINATORS]);
    sink.error(
      Codes.unknownPath,
      resolved.message,
      at,
      guess ? `did you mean "${guess}"?` : `known paths: ${knownPathNames().join(', ')}`,
      'key',
    );
    return undefined;
  }
  const { def } = resolved;
  const matcher = compileMatcher(def, spec, at, sink);
  if (!matcher) return undefined;
  return new PathTest(def, matcher, spec, CREDENTIAL_HEADERS.test(def.path));
}

function allOf(parts: Condition[]): Condition {
  if (parts.length === 1) return parts[0] as Condition;
  return new All(parts);
}

function anyOf(parts: Condition[]): Condition {
  return new Any(parts);
}

const NONE: readonly Requirement[] = [];

/** Matcher shapes run inline by `PathTest` (numbers for a cheap switch). */
const enum Op {
  Call,
  Eq,
  In,
  Gt,
  Gte,
  Lt,
  Lte,
  Ne,
}

/** One path and its matcher. Simple matchers (see `MatcherShape`) run inline, without a call. */
class PathTest implements Condition {
  readonly requires: readonly Requirement[];
  private readonly get: PathDef['get'];
  private readonly op: Op;
  private readonly value: unknown;
  private readonly values: ReadonlySet<unknown> | undefined;
  private readonly n: number;
  /** Text the value must contain for the matcher to hold: tested inline, so most values never reach the regex. */
  private readonly infix: string | undefined;

  constructor(
    private readonly def: PathDef,
    private readonly matcher: Matcher,
    private readonly spec: unknown,
    private readonly hideActual: boolean,
  ) {
    this.get = def.get;
    const shape = shapeOf(matcher);
    this.op = shape === undefined ? Op.Call : OPS[shape.op];
    this.value = shape?.op === 'eq' ? shape.value : undefined;
    this.values = shape?.op === 'in' ? shape.values : undefined;
    this.n = shape !== undefined && 'n' in shape ? shape.n : 0;
    this.infix = requiredInfix(matcher);
    const accepted = acceptedStrings(matcher);
    const suffix = requiredSuffix(matcher);
    const prefix = requiredPrefix(matcher);
    const { path, get } = def;
    // Requirements are read for every decision a rule might see, so never from a path whose
    // value is computed on demand (data.contains scans the payload).
    if (def.kind === 'classes') this.requires = NONE;
    else if (accepted !== undefined) this.requires = [{ kind: 'oneOf', path, get, values: accepted }];
    else if (suffix !== undefined) this.requires = [{ kind: 'suffix', path, get, suffix }];
    else if (prefix !== undefined) this.requires = [{ kind: 'prefix', path, get, prefix }];
    else if (shape !== undefined && shape.op !== 'eq' && shape.op !== 'in' && shape.op !== 'ne') this.requires = [{ kind: 'bound', path, get, op: shape.op, n: shape.n }];
    else this.requires = NONE;
  }

  test(s: EvalState): boolean {
    const v = this.get(s);
    switch (this.op) {
      case Op.Eq:
        return v === this.value;
      case Op.In:
        return (this.values as ReadonlySet<unknown>).has(v);
      case Op.Gt:
        return typeof v === 'number' && v > this.n;
      case Op.Gte:
        return typeof v === 'number' && v >= this.n;
      case Op.Lt:
        return typeof v === 'number' && v < this.n;
      case Op.Lte:
        return typeof v === 'number' && v <= this.n;
      case Op.Ne:
        return typeof v === 'number' && v !== this.n;
      default:
        if (this.infix !== undefined && !(typeof v === 'string' && v.includes(this.infix))) return false;
        return this.matcher(v, s);
    }
  }

  explain(s: EvalState): ConditionTrace {
    const actual = this.get(s);
    return {
      path: this.def.path,
      expected: this.spec,
      actual: this.hideActual && actual !== undefined ? '[redacted]' : actual instanceof Set ? [...actual] : actual,
      result: this.matcher(actual, s),
    };
  }
}

const OPS: Record<MatcherShape['op'], Op> = { eq: Op.Eq, in: Op.In, gt: Op.Gt, gte: Op.Gte, lt: Op.Lt, lte: Op.Lte, ne: Op.Ne };

class All implements Condition {
  readonly requires: readonly Requirement[];

  constructor(private readonly parts: readonly Condition[]) {
    const requires = parts.flatMap((p) => p.requires);
    this.requires = requires.length === 0 ? NONE : requires;
  }

  test(s: EvalState): boolean {
    const parts = this.parts;
    for (let i = 0; i < parts.length; i++) if (!(parts[i] as Condition).test(s)) return false;
    return true;
  }

  explain(s: EvalState): ConditionTrace {
    const children = this.parts.map((p) => p.explain(s));
    return { combinator: 'all', result: children.every((c) => c.result), children };
  }
}

class Any implements Condition {
  readonly requires: readonly Requirement[];

  constructor(private readonly parts: readonly Condition[]) {
    // One requirement per branch (its first plain one): the `any` needs at least one of them.
    const options = parts.map((p) => p.requires.find((r): r is Exclude<Requirement, Either> => r.kind !== 'either'));
    this.requires = options.every((o) => o !== undefined) ? [{ kind: 'either', options: options as Exclude<Requirement, Either>[] }] : NONE;
  }

  test(s: EvalState): boolean {
    const parts = this.parts;
    for (let i = 0; i < parts.length; i++) if ((parts[i] as Condition).test(s)) return true;
    return false;
  }

  explain(s: EvalState): ConditionTrace {
    const children = this.parts.map((p) => p.explain(s));
    return { combinator: 'any', result: children.some((c) => c.result), children };
  }
}

class Not implements Condition {
  readonly requires = NONE;

  constructor(private readonly inner: Condition) {}

  test(s: EvalState): boolean {
    return !this.inner.test(s);
  }

  explain(s: EvalState): ConditionTrace {
    const child = this.inner.explain(s);
    return { combinator: 'not', result: !child.result, children: [child] };
  }
}
