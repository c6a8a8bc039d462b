import { Codes, type DocPath, type ProblemSink } from './problems.js';

/** A Kubernetes-style label selector over agent labels. */
export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export type Labels = Readonly<Record<string, string>> | undefined;

export interface CompiledSelector {
  readonly matches: (labels: Labels) => boolean;
  /** Why the labels do not match, for `--explain`; undefined when they do. */
  readonly mismatch: (labels: Labels) => string | undefined;
}

type Requirement = { key: string; test: (labels: Labels) => boolean; describe: string };

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

function get(labels: Labels, key: string): string | undefined {
  return labels !== undefined && Object.hasOwn(labels, key) ? labels[key] : undefined;
}

/** Compiles a selector. An absent or empty selector selects every agent, as in Kubernetes. */
export function compileSelector(spec: LabelSelectorSpec | undefined, at: DocPath, sink: ProblemSink): CompiledSelector | undefined {
  const reqs: Requirement[] = [];
  let ok = true;
  for (const [key, value] of Object.entries(spec?.matchLabels ?? {})) {
    reqs.push({ key, test: (l) => get(l, key) === value, describe: `${key}=${value}` });
  }
  for (const [i, expr] of (spec?.matchExpressions ?? []).entries()) {
    const r = compileExpression(expr, [...at, 'matchExpressions', i], sink);
    if (r) reqs.push(r);
    else ok = false;
  }
  if (!ok) return undefined;
  return {
    matches: (labels) => {
      for (const r of reqs) if (!r.test(labels)) return false;
      return true;
    },
    mismatch: (labels) => {
      const failed = reqs.find((r) => !r.test(labels));
      if (!failed) return undefined;
      const actual = get(labels, failed.key);
      return `selector wants ${failed.describe}; agent has ${actual === undefined ? `no label ${failed.key}` : `${failed.key}=${actual}`}`;
    },
  };
}

function compileExpression(
  expr: { key: string; operator: string; values?: string[] },
  at: DocPath,
  sink: ProblemSink,
): Requirement | undefined {
  const { key, operator, values } = expr;
  if (!OPERATORS.includes(operator)) {
    sink.error(Codes.selector, `unknown selector operator "${operator}"; use one of ${OPERATORS.join(', ')}`, [...at, 'operator']);
    return undefined;
  }
  if (operator === 'In' || operator === 'NotIn') {
    if (!values || values.length === 0) {
      sink.error(Codes.selector, `operator ${operator} needs a non-empty "values" list`, at);
      return undefined;
    }
    const set = new Set(values);
    return operator === 'In'
      ? { key, test: (l) => set.has(get(l, key) as string), describe: `${key} in (${values.join(', ')})` }
      : { key, test: (l) => !set.has(get(l, key) as string), describe: `${key} notin (${values.join(', ')})` };
  }
  if (values !== undefined && values.length > 0) {
    sink.error(Codes.selector, `operator ${operator} takes no "values"`, [...at, 'values']);
    return undefined;
  }
  return operator === 'Exists'
    ? { key, test: (l) => get(l, key) !== undefined, describe: `label ${key} to exist` }
    : { key, test: (l) => get(l, key) === undefined, describe: `no label ${key}` };
}
