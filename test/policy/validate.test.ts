import { describe, expect, it } from 'vitest';
import { problemsOf, ruleYaml } from './helpers.js';

const head = (name = 'p', extra = '') => `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: ${name}
${extra}`;

describe('schema problems point at the exact place', () => {
  it('a misspelt field names the line of the key and the closest known field', () => {
    const yaml = `${head()}spec:
  rules:
    - whne:
        tool.name: x
      action: deny
`;
    expect(problemsOf(yaml)).toEqual(['p.yaml:7:7: JOCH_POLICY_SCHEMA: unknown field "whne" in "0"\n  hint: did you mean "when"?']);
  });
  it('a wrong kind or apiVersion', () => {
    const yaml = `apiVersion: joch.dev/v1
kind: Polcy
metadata: {name: p}
spec: {rules: [{action: deny}]}
`;
    expect(problemsOf(yaml)).toEqual([
      'p.yaml:1:13: JOCH_POLICY_SCHEMA: "apiVersion" must be "joch.dev/v1alpha1", not "joch.dev/v1"',
      'p.yaml:2:7: JOCH_POLICY_SCHEMA: "kind" must be "Policy", not "Polcy"',
    ]);
  });
  it('a missing field names its parent', () => {
    expect(problemsOf(`${head()}spec: {}\n`)).toEqual(['p.yaml:5:7: JOCH_POLICY_SCHEMA: "spec" needs "rules" or "allowlists" or "egress"']);
    expect(problemsOf(`apiVersion: joch.dev/v1alpha1\nkind: Policy\nspec: {rules: [{action: deny}]}\n`)).toEqual([
      'p.yaml:1:1: JOCH_POLICY_SCHEMA: the document is missing required field "metadata"',
    ]);
  });
  it('a bad action reports the branch the author meant', () => {
    expect(problemsOf(ruleYaml('tool.name: x', 'action: denied'))).toEqual([
      'p.yaml:10:15: JOCH_POLICY_SCHEMA: "denied" is not allowed here; use one of: allow, deny\n  hint: did you mean "deny"?',
    ]);
    expect(problemsOf(ruleYaml('tool.name: x', 'action: {redakt: true}'))[0]).toBe(
      'p.yaml:10:16: JOCH_POLICY_SCHEMA: unknown field "redakt" in "action"\n  hint: did you mean "redact"?',
    );
    expect(problemsOf(ruleYaml('tool.name: x', 'action: 7'))[0]).toBe(
      'p.yaml:10:15: JOCH_POLICY_SCHEMA: "action" has the wrong shape: expected one of "allow", "deny", or a map of "redact", "annotate", "headers", "inject"',
    );
  });
  it('an invalid name says what a name may contain', () => {
    expect(problemsOf(`apiVersion: joch.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: Bad_Name\nspec: {rules: [{action: deny}]}\n`)).toEqual([
      'p.yaml:4:9: JOCH_POLICY_SCHEMA: "Bad_Name" is not a valid value for "name": lower-case letters, digits, \'-\' and \'.\', starting and ending with a letter or digit (at most 253)',
    ]);
  });
  it('a rule with no outcome, or two', () => {
    expect(problemsOf(ruleYaml('tool.name: x', 'reason: r'))[0]).toMatch(/^p\.yaml:7:7: JOCH_POLICY_RULE: rule has neither "action" nor "require"/);
    expect(problemsOf(ruleYaml('tool.name: x', 'action: deny\n      require: {approval: human}'))[0]).toMatch(/^p\.yaml:7:7: JOCH_POLICY_RULE: rule has both/);
  });
});

describe('condition problems', () => {
  it('an unknown path suggests the closest known one, at the key', () => {
    expect(problemsOf(ruleYaml('tool.sideEfect: external_write'))).toEqual([
      'p.yaml:9:9: JOCH_POLICY_UNKNOWN_PATH: unknown condition path "tool.sideEfect"\n  hint: did you mean "tool.sideEffect"?',
    ]);
  });
  it('an invalid label key or header name', () => {
    expect(problemsOf(ruleYaml('agent.labels.bad key!: x'))[0]).toMatch(/^p\.yaml:9:9: JOCH_POLICY_UNKNOWN_PATH: "bad key!" is not a valid label key/);
    expect(problemsOf(ruleYaml('request.headers.X-Upper: x'))[0]).toMatch(/header names in conditions are lower case/);
  });
  it('a bad numeric comparison shows the accepted forms', () => {
    expect(problemsOf(ruleYaml('cost.runUsd: "more than 5"'))).toEqual([
      'p.yaml:9:22: JOCH_POLICY_MATCHER: "cost.runUsd" is a number; "more than 5" is neither a number nor a comparison\n  hint: write a number or a comparison such as ">5", ">=0.5", "<10", "!=3"',
    ]);
  });
  it('an unknown operator suggests the closest one, at the operator key', () => {
    expect(problemsOf(ruleYaml('tool.name: {regx: "^a"}'))).toEqual([
      'p.yaml:9:21: JOCH_POLICY_MATCHER: unknown matcher operator "regx"\n  hint: did you mean "regex"?',
    ]);
  });
  it('operators that do not fit the path type', () => {
    expect(problemsOf(ruleYaml('tool.name: {gt: 3}'))[0]).toMatch(/"gt" compares numbers; "tool.name" holds a string/);
    expect(problemsOf(ruleYaml('cost.runUsd: {glob: "1*"}'))[0]).toMatch(/globs apply to strings/);
    expect(problemsOf(ruleYaml('data.contains: pi'))[0]).toMatch(/"pi" is neither a data class.*did you mean "pii"/s);
    expect(problemsOf(ruleYaml('tool.name: true'))[0]).toMatch(/holds a string, not a boolean\n  hint: to test presence, write \{exists: true\}/);
    expect(problemsOf(ruleYaml('tool.name: []'))[0]).toMatch(/must not be empty/);
    expect(problemsOf(ruleYaml('tool.name: null'))[0]).toMatch(/has no value to match/);
    expect(problemsOf(ruleYaml('cost.runUsd: not-allowlisted'))[0]).toMatch(/cannot be allow-listed/);
  });
  it('a bad combinator', () => {
    expect(problemsOf(ruleYaml('any: {tool.name: x}'))[0]).toMatch(/^p\.yaml:9:14: JOCH_POLICY_SCHEMA: "any" takes a non-empty list of condition maps/);
    expect(problemsOf(ruleYaml('not: [a]'))[0]).toMatch(/"when" must be a map/);
  });
  it('reports every problem, not just the first', () => {
    expect(problemsOf(ruleYaml('tool.nme: x\ncost.runUsd: abc\nmodel.provider: {glab: x}'))).toHaveLength(3);
  });
});

describe('selectors, duplicates and allow-lists', () => {
  it('selector operators and values', () => {
    const sel = (expr: string) => `${head()}spec:
  appliesTo:
    agents:
      selector:
        matchExpressions:
          - ${expr}
  rules: [{action: deny}]
`;
    expect(problemsOf(sel('{key: env, operator: Within, values: [a]}'))[0]).toMatch(/^p\.yaml:10:34: JOCH_POLICY_SCHEMA: "Within" is not allowed here; use one of: In, NotIn, Exists, DoesNotExist/);
    expect(problemsOf(sel('{key: env, operator: In}'))[0]).toMatch(/^p\.yaml:10:13: JOCH_POLICY_SELECTOR: operator In needs a non-empty "values" list/);
    expect(problemsOf(sel('{key: env, operator: Exists, values: [a]}'))[0]).toMatch(/operator Exists takes no "values"/);
    expect(problemsOf(sel('{key: "bad key", operator: Exists}'))[0]).toMatch(/^p\.yaml:10:13: JOCH_POLICY_SELECTOR: "bad key" is not a valid label key/);
    expect(problemsOf(sel('{key: env, operator: In, values: ["not ok"]}'))[0]).toMatch(/JOCH_POLICY_SELECTOR: "not ok" is not a valid label value/);
    const labels = `${head()}spec:\n  appliesTo:\n    agents:\n      selector:\n        matchLabels: {"-env": prod}\n  rules: [{action: deny}]\n`;
    expect(problemsOf(labels)).toEqual([
      'p.yaml:9:23: JOCH_POLICY_SELECTOR: "-env" is not a valid label key\n  hint: label keys are an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_" or "."',
    ]);
  });
  it('duplicate policy names in one namespace, across files', () => {
    const yaml = `${head('dup')}spec: {rules: [{action: deny}]}\n---\n${head('dup')}spec: {rules: [{action: allow}]}\n`;
    expect(problemsOf(yaml)).toEqual(['p.yaml:10:9: JOCH_POLICY_DUPLICATE: policy "dup" is already defined at p.yaml:1']);
    const other = `${head('dup', '  namespace: other\n')}spec: {rules: [{action: allow}]}\n`;
    expect(problemsOf(`${head('dup')}spec: {rules: [{action: deny}]}\n---\n${other}`)).toEqual([]);
  });
  it('duplicate rule ids and YAML keys', () => {
    expect(problemsOf(`${head()}spec:\n  rules:\n    - {id: a, action: deny}\n    - {id: a, action: allow}\n`)).toEqual([
      'p.yaml:8:12: JOCH_POLICY_DUPLICATE: rule id "a" is already used by rules[0] of this policy',
    ]);
    expect(problemsOf(`${head()}spec:\n  rules: []\n  rules: []\n`)[0]).toMatch(/^p\.yaml:7:3: JOCH_YAML_SYNTAX: Map keys must be unique/);
  });
  it('allow-list paths must exist and hold names', () => {
    expect(problemsOf(`${head()}spec:\n  allowlists:\n    model.provder: [openai]\n`)).toEqual([
      'p.yaml:7:5: JOCH_POLICY_ALLOWLIST: unknown condition path "model.provder"\n  hint: did you mean "model.provider"?',
    ]);
    expect(problemsOf(`${head()}spec:\n  allowlists:\n    cost.runUsd: [1]\n`)[0]).toMatch(/cannot have an allow-list/);
  });
  it('warns (without failing) when not-allowlisted has no list anywhere', () => {
    const problems = problemsOf(ruleYaml('model.provider: not-allowlisted'));
    expect(problems).toEqual([
      'p.yaml:9:25: warning JOCH_POLICY_ALLOWLIST: "model.provider" is tested against an allow-list, but no loaded policy declares one (spec.allowlists["model.provider"]); every value is treated as not allow-listed',
    ]);
  });
});

describe('YAML problems', () => {
  it('syntax errors carry line and column', () => {
    expect(problemsOf('apiVersion: [unclosed\n')[0]).toMatch(/^p\.yaml:\d+:\d+: JOCH_YAML_SYNTAX: /);
  });
  it('an alias bomb is refused', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const problems = problemsOf(bomb.join('\n'));
    expect(problems[0]).toMatch(/JOCH_YAML_SYNTAX: .*alias/i);
  });
  it('empty documents are skipped; a non-map document is a schema error', () => {
    expect(problemsOf('---\n---\n')).toEqual([]);
    expect(problemsOf('- a\n- b\n')[0]).toMatch(/^p\.yaml:1:1: JOCH_POLICY_SCHEMA: the document must be a map, not a list/);
  });
});

describe('header outcomes, status and egress entries', () => {
  it('refuses headers Envoy would never let us change, and bad names', () => {
    const problems = problemsOf(ruleYaml('tool.name: x', 'action: {headers: {set: {host: evil, X-Upper: a}, remove: [":authority"]}}'));
    expect(problems).toEqual([
      'p.yaml:10:32: JOCH_POLICY_HEADERS: "host" cannot be changed: Envoy never lets an authorization service touch host, pseudo-headers or x-envoy-* headers',
      'p.yaml:10:44: JOCH_POLICY_HEADERS: "X-Upper" is not a valid header name (write header names in lower case)',
      'p.yaml:10:66: JOCH_POLICY_HEADERS: ":authority" cannot be changed: Envoy never lets an authorization service touch host, pseudo-headers or x-envoy-* headers',
    ]);
  });
  it('status only on deny rules, within 400-599', () => {
    expect(problemsOf(ruleYaml('tool.name: x', 'action: allow\n      status: 429'))[0]).toMatch(/^p\.yaml:11:7: JOCH_POLICY_RULE: "status" applies to deny rules only/);
    expect(problemsOf(ruleYaml('tool.name: x', 'action: deny\n      status: 200'))[0]).toMatch(/JOCH_POLICY_SCHEMA: "status" must be >= 400/);
  });
  it('egress entries: addresses belong under cidrs, ranges must parse', () => {
    const egress = (entry: string) => `${head()}spec:\n  egress:\n    allow:\n      - ${entry}\n`;
    expect(problemsOf(egress('{hosts: ["10.0.0.1"]}'))).toEqual([
      'p.yaml:8:18: JOCH_POLICY_EGRESS: "10.0.0.1" is an address; list addresses under "cidrs"\n  hint: host rules never match IP literals, so an address cannot slip past them',
    ]);
    expect(problemsOf(egress('{hosts: ["bad host!"]}'))[0]).toMatch(/"bad host!" is not a host name or host glob/);
    expect(problemsOf(egress('{cidrs: ["10.0.0.0/33"]}'))[0]).toMatch(/^p\.yaml:8:18: JOCH_POLICY_EGRESS: "10.0.0.0\/33" is not an address range/);
    expect(problemsOf(egress('{cidrs: ["nope"]}'))[0]).toMatch(/"nope" is not an address range/);
    expect(problemsOf(egress('{ports: [0]}'))[0]).toMatch(/JOCH_POLICY_SCHEMA: "0" must be >= 1/);
    expect(problemsOf(egress('{hosts: ["*.example.com"], cidrs: ["2001:db8::/32"], ports: [443]}'))).toEqual([]);
  });
});
