import type { Problem } from '../errors.js';

export type PathSegment = string | number;
export type DocPath = readonly PathSegment[];

/** Where in the YAML a path points: a key (for unknown or misspelt fields) or its value. */
export type Target = 'key' | 'value';

/** Collects problems against paths in one document; the loader turns paths into file:line:col. */
export interface ProblemSink {
  error(code: string, message: string, at: DocPath, hint?: string, target?: Target): void;
  warning(code: string, message: string, at: DocPath, hint?: string, target?: Target): void;
}

export interface PathProblem extends Omit<Problem, 'location'> {
  readonly at: DocPath;
  readonly target: Target;
}

export function collectingSink(into: PathProblem[]): ProblemSink {
  return {
    error: (code, message, at, hint, target = 'value') => into.push({ code, message, at, hint, target, severity: 'error' }),
    warning: (code, message, at, hint, target = 'value') => into.push({ code, message, at, hint, target, severity: 'warning' }),
  };
}

/** Stable problem codes. */
export const Codes = {
  yamlSyntax: 'JOCH_YAML_SYNTAX',
  schema: 'JOCH_POLICY_SCHEMA',
  unknownPath: 'JOCH_POLICY_UNKNOWN_PATH',
  matcher: 'JOCH_POLICY_MATCHER',
  regex: 'JOCH_POLICY_REGEX',
  selector: 'JOCH_POLICY_SELECTOR',
  duplicate: 'JOCH_POLICY_DUPLICATE',
  rule: 'JOCH_POLICY_RULE',
  allowlist: 'JOCH_POLICY_ALLOWLIST',
  egress: 'JOCH_POLICY_EGRESS',
  headers: 'JOCH_POLICY_HEADERS',
  io: 'JOCH_IO',
  context: 'JOCH_CONTEXT_INVALID',
} as const;
