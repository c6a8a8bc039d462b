import { intern } from './intern.js';
import { isLabelKey, isLabelValue } from './labels.js';
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
  /**
   * The requirements that name the values a label must have (matchLabels, In): necessary
   * conditions a selector index can look up instead of testing each selector in turn.
   */
  readonly positive: readonly PositiveRequirement[];
}

export interface PositiveRequirement {
  readonly key: string;
  readonly values: readonly string[];
}

type Requirement = { key: string; test: (labels: Labels) => boolean; describe: string; values?: readonly string[] };

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

/** Label values are strings; nothing on Object.prototype is, so inherited names never match. */
export function labelValue(labels: Labels, key: string): string | undefined {
  if (labels === undefined) return undefined;
  const v: unknown = labels[key];
  return typeof v === 'string' ? v : undefined;
}

/** Compiles a selector. An absent or empty selector selects every agent, as in Kubernetes. */
export function compileSelector(spec: LabelSelectorSpec | undefined, at: DocPath, sink: ProblemSink): CompiledSelector | undefined {
  const reqs: Requirement[] = [];
  let ok = true;
  for (const [rawKey, rawValue] of Object.entries(spec?.matchLabels ?? {})) {
    if (!checkLabel(rawKey, [rawValue], [...at, 'matchLabels', rawKey], sink)) {
      ok = false;
      continue;
    }
    const key = intern(rawKey);
    const value = intern(rawValue);
    reqs.push({ key, test: (l) => labelValue(l, key) === value, describe: `${key}=${value}`, values: [value] });
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
      const actual = labelValue(labels, failed.key);
      return `selector wants ${failed.describe}; agent has ${actual === undefined ? `no label ${failed.key}` : `${failed.key}=${actual}`}`;
    },
    positive: reqs.flatMap((r) => (r.values === undefined ? [] : [{ key: r.key, values: r.values }])),
  };
}

/** Keys and values must be valid Kubernetes labels: anything else could never match a pod's labels. */
function checkLabel(key: string, values: readonly string[], at: DocPath, sink: ProblemSink): boolean {
  if (!isLabelKey(key)) {
    sink.error(Codes.selector, `"${key}" is not a valid label key`, at, 'label keys are an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_" or "."', 'key');
    return false;
  }
  const bad = values.find((v) => !isLabelValue(v));
  if (bad !== undefined) {
    sink.error(Codes.selector, `"${bad}" is not a valid label value`, at, 'label values are up to 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit');
    return false;
  }
  return true;
}

function compileExpression(
  expr: { key: string; operator: string; values?: string[] },
  at: DocPath,
  sink: ProblemSink,
): Requirement | undefined {
  const { operator, values } = expr;
  if (!checkLabel(expr.key, values ?? [], at, sink)) return undefined;
  const key = intern(expr.key);
  if (!OPERATORS.includes(operator)) {
    sink.error(Codes.selector, `unknown selector operator "${operator}"; use one of ${OPERATORS.join(', ')}`, [...at, 'operator']);
    return undefined;
  }
  if (operator === 'In' || operator === 'NotIn') {
    if (!values || values.length === 0) {
      sink.error(Codes.selector, `operator ${operator} needs a non-empty "values" list`, at);
      return undefined;
    }
    const set = new Set(values.map(intern));
    return operator === 'In'
      ? { key, test: (l) => set.has(labelValue(l, key) as string), describe: `${key} in (${values.join(', ')})`, values: [...set] }
      : { key, test: (l) => !set.has(labelValue(l, key) as string), describe: `${key} notin (${values.join(', ')})` };
  }
  if (values !== undefined && values.length > 0) {
    sink.error(Codes.selector, `operator ${operator} takes no "values"`, [...at, 'values']);
    return undefined;
  }
  return operator === 'Exists'
    ? { key, test: (l) => labelValue(l, key) !== undefined, describe: `label ${key} to exist` }
    : { key, test: (l) => labelValue(l, key) === undefined, describe: `no label ${key}` };
}
