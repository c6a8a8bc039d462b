import type { EvalState } from './eval-state.js';
import { compileMatcher } from './matchers.js';
import { knownPathNames, resolvePath } from './paths.js';
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

/** A compiled `when`: `test` is the hot path; `explain` re-evaluates and says why. */
export interface Condition {
  readonly test: (s: EvalState) => boolean;
  readonly explain: (s: EvalState) => ConditionTrace;
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
    return inner && {
      test: (s) => !inner.test(s),
      explain: (s) => {
        const child = inner.explain(s);
        return { combinator: 'not', result: !child.result, children: [child] };
      },
    };
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
  const get = def.get;
  const hideActual = CREDENTIAL_HEADERS.test(def.path);
  return {
    test: (s) => matcher(get(s), s),
    explain: (s) => {
      const actual = get(s);
      return {
        path: def.path,
        expected: spec,
        actual: hideActual && actual !== undefined ? '[redacted]' : actual instanceof Set ? [...actual] : actual,
        result: matcher(actual, s),
      };
    },
  };
}

function allOf(parts: Condition[]): Condition {
  if (parts.length === 1) return parts[0] as Condition;
  return {
    test: (s) => {
      for (const p of parts) if (!p.test(s)) return false;
      return true;
    },
    explain: (s) => {
      const children = parts.map((p) => p.explain(s));
      return { combinator: 'all', result: children.every((c) => c.result), children };
    },
  };
}

function anyOf(parts: Condition[]): Condition {
  return {
    test: (s) => {
      for (const p of parts) if (p.test(s)) return true;
      return false;
    },
    explain: (s) => {
      const children = parts.map((p) => p.explain(s));
      return { combinator: 'any', result: children.some((c) => c.result), children };
    },
  };
}
