import type { DecisionContext } from '../../src/context/types.js';
import { formatProblem, type Problem } from '../../src/errors.js';
import { Engine, type EngineOptions } from '../../src/policy/engine.js';
import { compileSources } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';

/** Compiles policy YAML (documents joined with ---) and fails the test on any error. */
export function engineFor(yaml: string, options: EngineOptions = {}): Engine {
  const result = compileSources([{ file: 'test.yaml', text: yaml }]);
  const errors = result.problems.filter((p) => p.severity !== 'warning');
  if (errors.length > 0) throw new Error(`policy did not compile:\n${errors.map(formatProblem).join('\n')}`);
  let n = 0;
  return new Engine(new PolicySet(result.policies), { newId: () => `d-${++n}`, ...options });
}

/** Problems for a YAML text, formatted as joch validate prints them. */
export function problemsOf(yaml: string, file = 'p.yaml'): string[] {
  return compileSources([{ file, text: yaml }]).problems.map(formatProblem);
}

export function rawProblems(yaml: string, file = 'p.yaml'): Problem[] {
  return compileSources([{ file, text: yaml }]).problems;
}

/** A one-rule policy around a `when` map written as YAML (indented under `when:`). */
export function ruleYaml(when: string, outcome = 'action: deny', extra = ''): string {
  return `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: t
spec:
${extra}  rules:
    - id: r
      when:
${when
  .trim()
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
      ${outcome}
`;
}

/** Whether a one-rule deny policy with this `when` fires for the context. */
export function fires(when: string, ctx: Omit<DecisionContext, 'hook'> & { hook?: DecisionContext['hook'] }, extra = ''): boolean {
  const d = engineFor(ruleYaml(when, 'action: deny', extra)).evaluate({ hook: 'toolCallRequest', ...ctx });
  return d.decision === 'deny';
}
