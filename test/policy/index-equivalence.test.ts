import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOOKS, type DecisionContext } from '../../src/context/types.js';
import type { Decision } from '../../src/policy/decision.js';
import { engineFor } from './helpers.js';

/**
 * Deciding skips work that explaining does not: the selector index (and its count-only
 * matches), rules that require another hook, and rules whose guard (a required equality or
 * list) the context fails. Explaining walks every candidate policy and every rule, so the two
 * must always reach the same decision.
 */

const TOOLS = ['shell', 'search', 'send_email'];
const whens = [
  '{tool.name: shell}',
  '{tool.name: [shell, search], environment: prod}',
  '{tool.name: {in: [search, send_email]}}',
  '{tool.name: {notIn: [shell]}}',
  '{tool.name: {equals: search}, request.method: post}',
  '{hook: toolCallRequest}',
  '{hook: [message, egress], tool.sideEffect: external_write}',
  '{hook: {not: message}}',
  '{not: {tool.name: shell}}',
  '{any: [{tool.name: shell}, {agent.labels.team: a}]}',
  '{all: [{tool.name: search}, {environment: [prod, dev]}]}',
  '{destination.host: "*.example.com", request.method: [GET, POST]}',
  '{agent.labels.tier: gold, cost.runUsd: ">3"}',
  '{tool.name: {glob: "s*"}}',
  '{environment: staging}',
  '{cost.runUsd: ">=5"}',
  '{cost.runUsd: {lt: 5}, tool.name: shell}',
  '{cost.runUsd: "<=3"}',
  '{cost.runUsd: ">3", environment: {not: dev}}',
  '{cost.runUsd: 5}',
  '{cost.runUsd: "!=5"}',
  '{destination.host: "*.example.com"}',
  '{destination.host: {glob: "*.b.example.com"}, tool.name: shell}',
  '{destination.host: "*.a.example.org"}',
  '{agent.name: {glob: "bot-*"}}',
  '{agent.name: "bot-a*", tool.name: [shell, search]}',
  '{any: [{agent.name: "b*"}, {tool.name: shell}, {cost.runUsd: ">5"}]}',
  '{any: [{destination.host: "*.example.com"}, {agent.name: "x*"}], request.method: GET}',
  '{any: [{agent.name: "bot-b"}, {any: [{tool.name: search}]}]}',
  '{request.path: "/admin/**"}',
  '{tool.name: {regex: "^s(hell|earch)$"}}',
  '{tool.name: {regex: "ear"}, environment: prod}',
  '{request.path: "/v1/*/x"}',
  '{}',
];
const outcomes = ['action: deny', 'action: allow', 'require: {approval: human}', 'action: {headers: {set: {x-joch: "1"}}}'];

const rule = fc.record({ when: fc.constantFrom(...whens), outcome: fc.constantFrom(...outcomes) });
const selector = fc.constantFrom(
  '{}',
  '{matchLabels: {team: a}}',
  '{matchLabels: {team: b, tier: gold}}',
  '{matchExpressions: [{key: team, operator: In, values: [a, b]}]}',
  '{matchExpressions: [{key: tier, operator: NotIn, values: [gold]}]}',
  '{matchLabels: {team: a}, matchExpressions: [{key: tier, operator: Exists}]}',
);
const policy = fc.record({
  namespace: fc.constantFrom('ns-a', 'ns-b'),
  selector,
  hooks: fc.option(fc.subarray(['toolCallRequest', 'message', 'egress'], { minLength: 1 })),
  environments: fc.option(fc.constantFrom('[prod]', '[prod, staging]')),
  rules: fc.array(rule, { minLength: 1, maxLength: 5 }),
});

type PolicyCase = typeof policy extends fc.Arbitrary<infer T> ? T : never;

function yamlOf(policies: PolicyCase[]): string {
  return policies
    .map((p, i) => {
      const appliesTo = [
        `    agents: {selector: ${p.selector}}`,
        p.hooks ? `    hooks: [${p.hooks.join(', ')}]` : '',
        p.environments ? `    environments: ${p.environments}` : '',
      ].filter(Boolean);
      const rules = p.rules.map((r, j) => `    - id: r${j}\n      when: ${r.when}\n      ${r.outcome}`);
      return `apiVersion: joch.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: p${i}\n  namespace: ${p.namespace}\nspec:\n  appliesTo:\n${appliesTo.join('\n')}\n  rules:\n${rules.join('\n')}\n`;
    })
    .join('---\n');
}

const context = fc.record({
  hook: fc.constantFrom(...HOOKS),
  namespace: fc.constantFrom('ns-a', 'ns-b', 'ns-c'),
  environment: fc.constantFrom('prod', 'staging', 'dev'),
  agent: fc.record({ name: fc.constantFrom('bot-a', 'bot-b', 'b', 'x'), labels: fc.record({ team: fc.constantFrom('a', 'b', 'c'), tier: fc.constantFrom('gold', 'bronze') }, { requiredKeys: [] }) }),
  tool: fc.record({ name: fc.constantFrom(...TOOLS), sideEffect: fc.constantFrom('read', 'external_write') }, { requiredKeys: [] }),
  request: fc.record({ method: fc.constantFrom('get', 'POST', 'DELETE'), path: fc.constantFrom('/admin/x/y', '/admin', '/v1/a/x', '/v1/a/b/x') }, { requiredKeys: [] }),
  destination: fc.record({ host: fc.constantFrom('api.example.com', 'example.org', 'x.b.example.com', '.b.example.com', 'a..b.example.com', 'z.a.example.org', 'EXAMPLE.COM.') }),
  cost: fc.record({ runUsd: fc.constantFrom(1, 3, 5, 7, Number.NaN) }, { requiredKeys: [] }),
});

const withoutId = ({ decisionId: _, ...rest }: Decision) => rest;

describe('deciding with indexes agrees with explaining without them', () => {
  it('on random policy sets (enough candidates to use the selector index) and contexts', () => {
    fc.assert(
      fc.property(fc.array(policy, { minLength: 1, maxLength: 24 }), fc.array(context, { minLength: 1, maxLength: 8 }), (policies, contexts) => {
        const engine = engineFor(yamlOf(policies));
        for (const ctx of contexts) {
          const c = ctx as DecisionContext;
          expect(withoutId(engine.evaluate(c))).toEqual(withoutId(engine.explain(c).decision));
        }
      }),
      { numRuns: 300 },
    );
  });
});
