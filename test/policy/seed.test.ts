import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../src/errors.js';
import { Engine } from '../../src/policy/engine.js';
import { loadPolicies } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';

const printed = 'test/fixtures/seed-policy.yaml';

describe('the seed example as printed', () => {
  const result = loadPolicies([printed]);
  it('is rejected with the exact line and column of each invalid action', () => {
    expect(result.ok).toBe(false);
    expect(result.policies).toHaveLength(0);
    const lines = result.problems.map(formatProblem);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^test\/fixtures\/seed-policy\.yaml:24:9: JOCH_YAML_SYNTAX: Implicit keys need to be on a single line/);
    expect(lines[1]).toMatch(/^test\/fixtures\/seed-policy\.yaml:29:9: JOCH_YAML_SYNTAX: /);
  });
  it('hints at the corrected form: action and reason as sibling keys', () => {
    const text = readFileSync(printed, 'utf8').split('\n');
    expect(text[23]?.trim()).toBe('deny');
    expect(result.problems[0]?.hint).toBe(
      [
        '"deny" is the value of "action", and "reason" is a sibling key; write them as:',
        '      action: deny',
        '      reason: model-not-permitted',
      ].join('\n'),
    );
    expect(result.problems[1]?.hint).toContain('      reason: budget-exceeded');
  });
});

describe('the seed example, corrected (policies/)', () => {
  const loaded = loadPolicies(['policies']);
  const engine = new Engine(new PolicySet(loaded.policies));
  const prodAgent = {
    tenant: 'acme',
    namespace: 'support-platform',
    environment: 'prod',
    agent: { name: 'support-bot', labels: { env: 'prod' } },
  };

  it('loads with no problems', () => {
    expect(loaded.problems.map(formatProblem)).toEqual([]);
    expect(loaded.policies.map((p) => p.name)).toContain('no-external-send-without-approval');
  });

  it('rule 1: an external_write tool call waits for human approval', () => {
    const d = engine.evaluate({ ...prodAgent, hook: 'toolCallRequest', tool: { name: 'send_email', sideEffect: 'external_write' } });
    expect(d).toMatchObject({
      decision: 'deny',
      pending: { approval: 'human' },
      reason: 'approval-required',
      policyId: 'no-external-send-without-approval',
      ruleId: 'external-write-needs-approval',
    });
  });

  it('rules 1 and 2 together: the pending decision carries the redaction an approval must still apply', () => {
    const d = engine.evaluate({ ...prodAgent, hook: 'toolCallRequest', tool: { name: 'send_email', sideEffect: 'external_write' }, payload: { to: 'jane.doe@example.com' } });
    expect(d).toMatchObject({ decision: 'deny', pending: { approval: 'human' }, ruleId: 'external-write-needs-approval' });
    expect(d.modifiedRequest).toEqual({ payload: { to: '[REDACTED:EMAIL]' } });
  });

  it('rule 2: PII is redacted (modify)', () => {
    const d = engine.evaluate({ ...prodAgent, hook: 'toolCallRequest', tool: { name: 'lookup' }, payload: { query: 'customer jane.doe@example.com' } });
    expect(d).toMatchObject({ decision: 'modify', policyId: 'no-external-send-without-approval', ruleId: 'redact-pii' });
    expect(d.modifiedRequest).toEqual({ payload: { query: 'customer [REDACTED:EMAIL]' } });
  });

  it('rule 3: a model provider that is not allow-listed is denied', () => {
    const d = engine.evaluate({ ...prodAgent, hook: 'message', model: { provider: 'shady-llm', name: 'x' } });
    expect(d).toMatchObject({ decision: 'deny', reason: 'model-not-permitted', ruleId: 'model-allowlist' });
    expect(engine.evaluate({ ...prodAgent, hook: 'message', model: { provider: 'anthropic', name: 'claude' } }).decision).toBe('allow');
  });

  it('rule 4: a run that has spent more than $5 is denied', () => {
    expect(engine.evaluate({ ...prodAgent, hook: 'message', model: { provider: 'openai' }, cost: { runUsd: 5.01 } })).toMatchObject({
      decision: 'deny',
      reason: 'budget-exceeded',
      ruleId: 'run-budget',
    });
    expect(engine.evaluate({ ...prodAgent, hook: 'message', model: { provider: 'openai' }, cost: { runUsd: 5 } }).decision).toBe('allow');
  });

  it('applies only to prod agents of its namespace', () => {
    const call = { hook: 'toolCallRequest' as const, tool: { name: 'send_email', sideEffect: 'external_write' } };
    expect(engine.evaluate({ ...prodAgent, ...call, agent: { labels: { env: 'staging' } } }).decision).toBe('allow');
    expect(engine.evaluate({ ...prodAgent, ...call, namespace: 'billing' }).decision).toBe('allow');
  });

  it('returns the seed decision shape', () => {
    const d = engine.evaluate({ ...prodAgent, hook: 'message', model: { provider: 'shady-llm' } });
    expect(Object.keys(d).sort()).toEqual(['decision', 'decisionId', 'matched', 'policyId', 'policyNamespace', 'policyVersion', 'reason', 'ruleId', 'status']);
  });
});
