import { describe, expect, it } from 'vitest';
import { engineFor } from './helpers.js';

const policy = (name: string, rules: string, extra = ''): string => `---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: ${name}
${extra}spec:
  rules:
${rules}
`;

describe('rule order and short-circuit', () => {
  it('the first deny wins and later rules do not run', () => {
    const e = engineFor(
      policy(
        'p',
        `    - id: first
      when: {tool.name: shell}
      action: deny
      reason: first-deny
    - id: second
      when: {tool.name: shell}
      action: deny
      reason: second-deny`,
      ),
    );
    const d = e.evaluate({ hook: 'toolCallRequest', tool: { name: 'shell' } });
    expect(d).toMatchObject({ decision: 'deny', reason: 'first-deny', policyId: 'p', ruleId: 'first' });
    expect(d.matched.map((m) => m.ruleId)).toEqual(['first']);
  });

  it('allow ends its own policy but not others; another policy can still deny', () => {
    const yaml =
      policy(
        'a-exceptions',
        `    - id: allow-docs
      when: {destination.host: docs.example.com}
      action: allow
    - id: deny-all
      action: deny
      reason: not-docs`,
      ) +
      policy(
        'b-guard',
        `    - id: no-secrets
      when: {data.contains: secret}
      action: deny
      reason: secret`,
      );
    const e = engineFor(yaml);
    expect(e.evaluate({ hook: 'egress', destination: { host: 'docs.example.com' } })).toMatchObject({
      decision: 'allow',
      policyId: 'a-exceptions',
      ruleId: 'allow-docs',
      reason: 'allowed-by-policy',
    });
    expect(e.evaluate({ hook: 'egress', destination: { host: 'other.example.com' } })).toMatchObject({ decision: 'deny', reason: 'not-docs' });
    expect(
      e.evaluate({ hook: 'egress', destination: { host: 'docs.example.com' }, payload: 'key AKIAIOSFODNN7EXAMPLE' }),
    ).toMatchObject({ decision: 'deny', policyId: 'b-guard', reason: 'secret' });
  });

  it('orders policies by priority, then platform-wide before namespaced, then by name', () => {
    const deny = (reason: string) => `    - when: {tool.name: x}
      action: deny
      reason: ${reason}`;
    const yaml =
      policy('zz-namespaced', deny('namespaced'), '  namespace: team\n') +
      policy('aa-namespaced', deny('namespaced-a'), '  namespace: team\n') +
      policy('mm-global', deny('global'));
    const ctx = { hook: 'toolCallRequest' as const, namespace: 'team', tool: { name: 'x' } };
    expect(engineFor(yaml).evaluate(ctx).reason).toBe('global');
    const prioritised = yaml.replace('metadata:\n  name: zz-namespaced\n  namespace: team\nspec:\n', 'metadata:\n  name: zz-namespaced\n  namespace: team\nspec:\n  priority: 10\n');
    expect(engineFor(prioritised).evaluate(ctx).reason).toBe('namespaced');
    const withoutGlobal = policy('zz-namespaced', deny('z'), '  namespace: team\n') + policy('aa-namespaced', deny('a'), '  namespace: team\n');
    expect(engineFor(withoutGlobal).evaluate(ctx).reason).toBe('a');
  });

  it('a deny after a pending approval wins; otherwise approval is pending', () => {
    const yaml = policy(
      'p',
      `    - id: approve
      when: {tool.sideEffect: external_write}
      require: {approval: human}
    - id: budget
      when: {cost.runUsd: ">5"}
      action: deny
      reason: budget-exceeded`,
    );
    const e = engineFor(yaml);
    expect(e.evaluate({ hook: 'toolCallRequest', tool: { sideEffect: 'external_write' }, cost: { runUsd: 9 } })).toMatchObject({
      decision: 'deny',
      reason: 'budget-exceeded',
    });
    const pending = e.evaluate({ hook: 'toolCallRequest', tool: { sideEffect: 'external_write' }, cost: { runUsd: 1 } });
    expect(pending).toMatchObject({ decision: 'deny', reason: 'approval-required', pending: { approval: 'human' }, ruleId: 'approve' });
  });
});

describe('modify', () => {
  const redactPii = policy(
    'pii',
    `    - id: redact-pii
      when: {data.contains: pii}
      action: {redact: true}`,
  );
  const redactSecrets = policy(
    'secrets',
    `    - id: redact-secrets
      when: {data.contains: secret}
      action: {redact: [secret]}
      reason: secrets-removed`,
  );

  it('redacts what the rule names and leaves the rest byte-identical', () => {
    const payload = { to: 'jane.doe@example.com', body: 'Call 415-555-2671 about ticket 8812', key: 'AKIAIOSFODNN7EXAMPLE' };
    const d = engineFor(redactPii).evaluate({ hook: 'toolCallRequest', payload });
    expect(d.decision).toBe('modify');
    expect(d.reason).toBe('redacted');
    expect(d.modifiedRequest?.payload).toEqual({
      to: '[REDACTED:EMAIL]',
      body: 'Call [REDACTED:PHONE] about ticket 8812',
      key: 'AKIAIOSFODNN7EXAMPLE',
    });
    expect(payload.to).toBe('jane.doe@example.com');
  });

  it('accumulates redactions across rules and policies in order', () => {
    const payload = { to: 'jane.doe@example.com', key: 'AKIAIOSFODNN7EXAMPLE' };
    const d = engineFor(redactPii + redactSecrets).evaluate({ hook: 'toolCallRequest', payload });
    expect(d).toMatchObject({ decision: 'modify', policyId: 'pii', ruleId: 'redact-pii' });
    expect(d.modifiedRequest?.payload).toEqual({ to: '[REDACTED:EMAIL]', key: '[REDACTED:AWS_ACCESS_KEY]' });
    expect(d.matched.map((m) => m.ruleId)).toEqual(['redact-pii', 'redact-secrets']);
  });

  it('keeps JSON text valid when the payload is a JSON string', () => {
    const payload = '{"note":"write to jane.doe@example.com","n":1}';
    const d = engineFor(redactPii).evaluate({ hook: 'toolCallRequest', payload });
    expect(d.modifiedRequest?.payload).toBe('{"note":"write to [REDACTED:EMAIL]","n":1}');
  });

  it('a deny anywhere beats a modify', () => {
    const deny = policy(
      'zz-deny',
      `    - when: {tool.name: x}
      action: deny`,
    );
    const d = engineFor(redactPii + deny).evaluate({ hook: 'toolCallRequest', tool: { name: 'x' }, payload: 'jane.doe@example.com' });
    expect(d).toMatchObject({ decision: 'deny', reason: 'denied-by-policy', policyId: 'zz-deny' });
    expect(d.modifiedRequest).toBeUndefined();
  });
});

describe('default decision', () => {
  const yaml = policy(
    'p',
    `    - when: {tool.name: shell}
      action: deny`,
  );
  it('allows when no rule fires, naming the policy-set version', () => {
    const e = engineFor(yaml);
    const d = e.evaluate({ hook: 'toolCallRequest', tool: { name: 'ls' } });
    expect(d).toMatchObject({ decision: 'allow', reason: 'no-matching-rule', policyId: null, ruleId: null, matched: [] });
    expect(d.policyVersion).toBe(e.policies.version);
  });
  it('denies by default when configured, globally or per environment', () => {
    expect(engineFor(yaml, { defaultDecision: 'deny' }).evaluate({ hook: 'egress' })).toMatchObject({ decision: 'deny', reason: 'default-deny' });
    const e = engineFor(yaml, { environmentDefaults: { prod: 'deny' } });
    expect(e.evaluate({ hook: 'egress', environment: 'prod' }).decision).toBe('deny');
    expect(e.evaluate({ hook: 'egress', environment: 'dev' }).decision).toBe('allow');
    expect(e.evaluate({ hook: 'egress', environment: 'constructor' }).decision).toBe('allow');
  });
  it('gives every decision its own id', () => {
    const e = engineFor(yaml, { newId: undefined });
    const a = e.evaluate({ hook: 'egress' });
    const b = e.evaluate({ hook: 'egress' });
    expect(a.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.decisionId).not.toBe(b.decisionId);
  });
});

describe('appliesTo', () => {
  const scoped = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: scoped
  namespace: support
  tenant: acme
spec:
  appliesTo:
    environments: [prod]
    hooks: [toolCallRequest]
    agents:
      selector:
        matchLabels: {tier: gold}
        matchExpressions:
          - {key: team, operator: In, values: [support, sales]}
          - {key: experimental, operator: DoesNotExist}
  rules:
    - action: deny
`;
  const base = {
    hook: 'toolCallRequest' as const,
    tenant: 'acme',
    namespace: 'support',
    environment: 'prod',
    agent: { labels: { tier: 'gold', team: 'sales' } },
  };
  const e = engineFor(scoped);
  it('applies when tenant, namespace, environment, hook and selector all match', () => {
    expect(e.evaluate(base).decision).toBe('deny');
  });
  const misses: [string, object][] = [
    ['another tenant', { tenant: 'globex' }],
    ['no tenant', { tenant: undefined }],
    ['another namespace', { namespace: 'billing' }],
    ['another environment', { environment: 'staging' }],
    ['no environment', { environment: undefined }],
    ['another hook', { hook: 'message' }],
    ['a label value outside In', { agent: { labels: { tier: 'gold', team: 'ops' } } }],
    ['a missing matchLabels label', { agent: { labels: { team: 'sales' } } }],
    ['a label that must not exist', { agent: { labels: { tier: 'gold', team: 'sales', experimental: 'yes' } } }],
    ['no labels at all', { agent: {} }],
  ];
  for (const [what, change] of misses) {
    it(`does not apply with ${what}`, () => {
      expect(e.evaluate({ ...base, ...change }).decision).toBe('allow');
    });
  }
  it('NotIn and Exists follow Kubernetes semantics (NotIn matches an absent label)', () => {
    const yaml = scoped
      .replace('{key: team, operator: In, values: [support, sales]}', '{key: team, operator: NotIn, values: [ops]}')
      .replace('{key: experimental, operator: DoesNotExist}', '{key: tier, operator: Exists}');
    const e2 = engineFor(yaml);
    expect(e2.evaluate(base).decision).toBe('deny');
    expect(e2.evaluate({ ...base, agent: { labels: { tier: 'gold' } } }).decision).toBe('deny');
    expect(e2.evaluate({ ...base, agent: { labels: { tier: 'gold', team: 'ops' } } }).decision).toBe('allow');
  });
});

describe('policyVersion', () => {
  const yaml = policy(
    'p',
    `    - when: {tool.name: shell}
      action: deny`,
  );
  const version = (text: string) => engineFor(text).evaluate({ hook: 'toolCallRequest', tool: { name: 'shell' } }).policyVersion;
  it('is stable for the same content, whatever the formatting', () => {
    const reformatted = yaml.replace('when: {tool.name: shell}', 'when:\n        tool.name: "shell"   # same thing');
    expect(version(yaml)).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect(version(reformatted)).toBe(version(yaml));
  });
  it('changes when the content changes', () => {
    expect(version(yaml.replace('action: deny', 'action: deny\n      reason: changed'))).not.toBe(version(yaml));
  });
});

describe('allow-lists', () => {
  const lists = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: providers
spec:
  allowlists:
    model.provider: [openai, anthropic]
---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: team-extra
  namespace: research
spec:
  allowlists:
    model.provider: [mistral]
    destination.host: ["*.huggingface.co", "API.Example.com"]
---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: enforce
spec:
  rules:
    - when: {model.provider: not-allowlisted}
      action: deny
      reason: model-not-permitted
    - when: {destination.host: {allowlisted: false}}
      action: deny
      reason: egress-not-allowlisted
`;
  const e = engineFor(lists);
  it('tests values against the lists of every policy that applies', () => {
    expect(e.evaluate({ hook: 'message', model: { provider: 'openai' } }).decision).toBe('allow');
    expect(e.evaluate({ hook: 'message', model: { provider: 'mistral' } })).toMatchObject({ decision: 'deny', reason: 'model-not-permitted' });
    expect(e.evaluate({ hook: 'message', namespace: 'research', model: { provider: 'mistral' } }).decision).toBe('allow');
  });
  it('matches host entries as host globs, normalised', () => {
    const at = (host: string) => e.evaluate({ hook: 'egress', namespace: 'research', destination: { host } }).decision;
    expect(at('cdn.huggingface.co')).toBe('allow');
    expect(at('api.example.com')).toBe('allow');
    expect(at('huggingface.co')).toBe('deny');
    expect(at('huggingface.co.evil.io')).toBe('deny');
  });
  it('treats every value as not allow-listed where no applicable policy declares a list (fail closed)', () => {
    expect(e.evaluate({ hook: 'egress', namespace: 'other', destination: { host: 'api.example.com' } })).toMatchObject({
      decision: 'deny',
      reason: 'egress-not-allowlisted',
    });
  });
  it('does not fire when the value is absent', () => {
    expect(e.evaluate({ hook: 'egress' }).decision).toBe('allow');
  });
});

describe('failure', () => {
  it('fails closed when evaluation throws', () => {
    const e = engineFor(policy('p', `    - when: {tool.name: x}\n      action: deny`));
    const hostile = { hook: 'toolCallRequest', get tool(): never { throw new Error('boom'); } } as never;
    expect(e.evaluate(hostile)).toMatchObject({ decision: 'deny', reason: 'evaluation-error', policyId: null });
  });
});

describe('header outcomes', () => {
  const yaml = policy(
    'headers',
    `    - id: strip-agent-credentials
      when: {destination.host: api.openai.com}
      action:
        headers:
          remove: [authorization, x-api-key]
    - id: tag-team
      when: {agent.labels.team: {exists: true}}
      action:
        headers:
          set: {x-joch-team: support, authorization: placeholder}`,
  );
  it('accumulates set and remove in firing order', () => {
    const d = engineFor(yaml).evaluate({ hook: 'egress', destination: { host: 'api.openai.com' }, agent: { labels: { team: 'support' } } });
    expect(d).toMatchObject({ decision: 'modify', reason: 'modified-by-policy', ruleId: 'strip-agent-credentials' });
    expect(d.modifiedRequest).toEqual({ headers: { set: { 'x-joch-team': 'support', authorization: 'placeholder' }, remove: ['x-api-key'] } });
  });
  it('a later remove undoes an earlier set', () => {
    const reversed = policy(
      'h',
      `    - action: {headers: {set: {x-a: "1", x-b: "2"}}}
    - action: {headers: {remove: [x-a]}}`,
    );
    expect(engineFor(reversed).evaluate({ hook: 'egress' }).modifiedRequest).toEqual({ headers: { set: { 'x-b': '2' }, remove: ['x-a'] } });
  });
});

describe('deny status', () => {
  it('is 403 by default, 429 for rules on cost, or what the rule says', () => {
    const yaml = policy(
      's',
      `    - {id: budget, when: {cost.dayUsd: ">100"}, action: deny}
    - {id: teapot, when: {tool.name: tea}, action: deny, status: 418}
    - {id: plain, when: {tool.name: x}, action: deny}`,
    );
    const e = engineFor(yaml);
    expect(e.evaluate({ hook: 'toolCallRequest', cost: { dayUsd: 101 } }).status).toBe(429);
    expect(e.evaluate({ hook: 'toolCallRequest', tool: { name: 'tea' } }).status).toBe(418);
    expect(e.evaluate({ hook: 'toolCallRequest', tool: { name: 'x' } }).status).toBe(403);
    expect(e.evaluate({ hook: 'toolCallRequest' }).status).toBeUndefined();
  });
});

describe('egress allow-lists', () => {
  const yaml = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: support-egress
  namespace: support
spec:
  appliesTo:
    agents:
      selector:
        matchLabels: {env: prod}
  egress:
    allow:
      - hosts: [api.openai.com, "*.zendesk.com"]
        ports: [443]
      - cidrs: [10.20.0.0/16, "2001:db8::/32"]
        ports: [5432]
      - hosts: [mcp.internal.example.com]
---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: guard
spec:
  rules:
    - {when: {tool.name: shell}, action: deny}
`;
  const e = engineFor(yaml);
  const prod = { namespace: 'support', agent: { labels: { env: 'prod' } } };
  const to = (destination: object, extra: object = {}) => e.evaluate({ hook: 'egress', ...prod, destination, ...extra });

  it('allows listed hosts, globs, ports and ranges', () => {
    expect(to({ host: 'api.openai.com', port: 443 }).decision).toBe('allow');
    expect(to({ host: 'acme.zendesk.com', port: 443 }).decision).toBe('allow');
    expect(to({ address: '10.20.3.4', port: 5432 }).decision).toBe('allow');
    expect(to({ host: '10.20.3.4', port: 5432 }).decision).toBe('allow');
    expect(to({ host: '[2001:db8::7]', port: 5432 }).decision).toBe('allow');
    expect(to({ host: 'mcp.internal.example.com', port: 8080 }).decision).toBe('allow');
    expect(to({ sni: 'api.openai.com', address: '104.18.7.1', port: 443 }).decision).toBe('allow');
  });

  it('denies everything else with egress-not-allowlisted, naming the destination', () => {
    const d = to({ host: 'evil.example', port: 443 });
    expect(d).toMatchObject({
      decision: 'deny',
      reason: 'egress-not-allowlisted',
      message: 'evil.example:443 is not on the egress allow-list',
      policyId: 'support-egress',
      ruleId: 'egress',
      status: 403,
    });
    expect(to({ host: 'api.openai.com', port: 80 }).decision).toBe('deny');
    expect(to({ address: '10.21.0.1', port: 5432 }).decision).toBe('deny');
    expect(to({ sni: 'evil.example', address: '10.20.0.1', port: 443 }).decision).toBe('deny');
  });

  it('does not let alternative spellings or IP literals past a host rule', () => {
    expect(to({ host: 'API.OPENAI.COM.', port: 443 }).decision).toBe('allow');
    expect(to({ host: 'api.openai.com:443' }).decision).toBe('allow');
    expect(to({ host: 'api.openai.com.evil.io', port: 443 }).decision).toBe('deny');
    expect(to({ host: '104.18.7.1', port: 443 }).decision).toBe('deny');
    expect(to({ host: '[::ffff:10.20.0.9]', port: 5432 }).decision).toBe('allow');
    expect(to({ host: 'api.openai.com', sni: 'evil.example', port: 443 }).decision).toBe('deny');
  });

  it('applies only to the agents it selects, and rules still run after it', () => {
    expect(e.evaluate({ hook: 'egress', namespace: 'support', agent: { labels: { env: 'dev' } }, destination: { host: 'evil.example', port: 443 } }).decision).toBe('allow');
    expect(e.evaluate({ hook: 'egress', namespace: 'other', destination: { host: 'evil.example' } }).decision).toBe('allow');
    expect(to({ host: 'api.openai.com', port: 443 }, { tool: { name: 'shell' } })).toMatchObject({ decision: 'deny', policyId: 'guard' });
  });

  it('leaves contexts without a destination to the rules', () => {
    expect(e.evaluate({ hook: 'toolCallResult', ...prod, payload: 'ok' }).decision).toBe('allow');
  });
});
