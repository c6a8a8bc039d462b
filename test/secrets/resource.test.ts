import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../src/errors.js';
import { compileSources } from '../../src/policy/load.js';
import { checkSecretReferences, compileSecretSources } from '../../src/secrets/load.js';

const secretYaml = (spec: string, meta = 'name: openai-api-key') => `apiVersion: joch.dev/v1alpha1
kind: Secret
metadata:
  ${meta}
spec:
${spec}
`;
const load = (text: string) => compileSecretSources([{ file: 's.yaml', text }]);
const messages = (text: string) => load(text).problems.map(formatProblem);

describe('kind: Secret holds references only', () => {
  it('accepts each kind of reference, with defaults filled in', () => {
    const r = compileSecretSources([
      {
        file: 's.yaml',
        text: [
          secretYaml('  env: {name: OPENAI_API_KEY}\n  cache: {ttl: 30s, maxStale: 10m}', 'name: a'),
          secretYaml('  file: {path: /run/secrets/openai}', 'name: b'),
          secretYaml('  vault:\n    address: https://vault.internal:8200/\n    path: providers/openai\n    field: api_key\n    auth: {kubernetes: {role: joch}}', 'name: c'),
          secretYaml('  kubernetes: {namespace: agents, name: provider-keys, key: openai}', 'name: d\n  namespace: support'),
          secretYaml('  aws: {arn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-AbCdEf", field: key}', 'name: e'),
        ].join('---\n'),
      },
    ]);
    expect(r.problems).toEqual([]);
    expect(r.secrets.map((s) => [s.name, s.source.kind, s.ttlMs, s.maxStaleMs])).toEqual([
      ['a', 'env', 30_000, 600_000],
      ['b', 'file', 300_000, 3_600_000],
      ['c', 'vault', 300_000, 3_600_000],
      ['d', 'kubernetes', 300_000, 3_600_000],
      ['e', 'aws', 300_000, 3_600_000],
    ]);
    expect(r.secrets[2]?.source).toEqual({ kind: 'vault', address: 'https://vault.internal:8200', mount: 'secret', path: 'providers/openai', field: 'api_key', auth: { kind: 'kubernetes', role: 'joch', mount: 'kubernetes', jwtFile: '/var/run/secrets/kubernetes.io/serviceaccount/token' } });
    expect(r.secrets[3]?.namespace).toBe('support');
    expect(r.secrets[4]?.source).toMatchObject({ region: 'eu-west-1', field: 'key' });
  });

  it('rejects inline values, and never repeats them in the error', () => {
    const value = 'sk-proj-Abc123Def456Ghi789Jkl012Mno345';
    const cases = [
      secretYaml(`  value: ${value}`),
      secretYaml(`  env: {name: OPENAI_API_KEY}\n  data: {key: ${value}}`),
      secretYaml(`  env: {name: ${value}}`),
      secretYaml(`  vault: {address: "http://v:8200", path: p, field: f, auth: {token: ${value}}}`),
      secretYaml(`  vault: {address: "http://v:8200", path: p, field: f, auth: {tokenEnv: "hvs.CAESIJlU8aWq1XYZq2XYZq3XYZq4XYZq5XYZq6Abc"}}`),
      secretYaml(`  aws: {arn: "Bearer ${value}"}`),
    ];
    for (const text of cases) {
      const r = load(text);
      expect(r.ok, text).toBe(false);
      expect(r.problems.some((p) => p.code === 'JOCH_SECRET_INLINE_VALUE'), text).toBe(true);
      for (const p of r.problems) expect(formatProblem(p)).not.toContain(value);
    }
    expect(messages(secretYaml(`  value: ${value}`))).toEqual([
      's.yaml:6:3: JOCH_SECRET_INLINE_VALUE: a Secret holds a reference, never a value: "value" is not allowed\n  hint: name where the value lives (env, file, vault, kubernetes or aws) and keep the value there',
      's.yaml:6:3: JOCH_SECRET_SCHEMA: "spec" names no source\n  hint: one of env, file, vault, kubernetes, aws',
    ]);
  });

  it('points at what is wrong: several sources, bad references, typos, durations', () => {
    expect(messages(secretYaml('  env: {name: A}\n  file: {path: /x}'))).toEqual(['s.yaml:6:3: JOCH_SECRET_SCHEMA: "spec" names 2 sources (env, file); give exactly one\n  hint: one of env, file, vault, kubernetes, aws']);
    expect(messages(secretYaml('  file: {path: relative/path}'))).toEqual(['s.yaml:6:16: JOCH_SECRET_SCHEMA: "path" must be an absolute path']);
    expect(messages(secretYaml('  env: {nmae: A}'))[0]).toMatch(/^s\.yaml:6:9: JOCH_SECRET_SCHEMA: unknown field "nmae" in "env"/);
    expect(messages(secretYaml('  aws: {arn: "arn:aws:s3:::bucket"}'))[0]).toContain('"arn" must be a Secrets Manager ARN');
    expect(messages(secretYaml('  env: {name: A}\n  cache: {ttl: 5 minutes}'))).toEqual(['s.yaml:7:16: JOCH_SECRET_SCHEMA: "ttl" must be a duration such as 30s, 5m or 1h']);
    expect(messages(secretYaml('  vault: {address: "http://v:8200", path: p, field: f, auth: {tokenEnv: A, tokenFile: /t}}'))[0]).toContain('"auth" needs exactly one of tokenEnv, tokenFile, kubernetes');
  });

  it('names must be unique', () => {
    const r = load(`${secretYaml('  env: {name: A}')}---\n${secretYaml('  env: {name: B}')}`);
    expect(r.problems.map(formatProblem)).toEqual(['s.yaml:11:9: JOCH_SECRET_DUPLICATE: secret "openai-api-key" is already defined at s.yaml:1 (Secret names are unique per gateway)']);
  });
});

describe('Secrets beside Policies', () => {
  const policy = (ns: string | undefined, secret: string) => `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: inject-${secret}
${ns ? `  namespace: ${ns}\n` : ''}spec:
  rules:
    - id: key
      when: {destination.host: api.openai.com}
      action:
        inject: {header: authorization, secret: ${secret}, format: "Bearer {value}"}
`;
  const file = `${secretYaml('  env: {name: OPENAI_API_KEY}')}---\n${secretYaml('  env: {name: TEAM_KEY}', 'name: team-key\n  namespace: support')}---\n${policy(undefined, 'openai-api-key')}`;

  it('the policy loader skips Secret documents in the same file, and the Secret loader skips Policies', () => {
    const policies = compileSources([{ file: 'p.yaml', text: file }]);
    expect(policies.problems).toEqual([]);
    expect(policies.policies.map((p) => p.name)).toEqual(['inject-openai-api-key']);
    expect(compileSecretSources([{ file: 'p.yaml', text: file }]).secrets.map((s) => s.name)).toEqual(['openai-api-key', 'team-key']);
  });

  it('an inject must name a loaded Secret in scope', () => {
    const secrets = compileSecretSources([{ file: 'p.yaml', text: file }]).secrets;
    const refs = (text: string) => checkSecretReferences(compileSources([{ file: 'q.yaml', text }]).policies, secrets).map(formatProblem);
    expect(refs(policy(undefined, 'openai-api-key'))).toEqual([]);
    expect(refs(policy('support', 'team-key'))).toEqual([]);
    expect(refs(policy(undefined, 'missing-key'))).toEqual([
      'q.yaml:7:1: JOCH_SECRET_UNKNOWN: rule "key" of policy "inject-missing-key" injects secret "missing-key", which no loaded Secret defines\n  hint: add a kind: Secret document with that name beside the policies',
    ]);
    expect(refs(policy('billing', 'team-key'))[0]).toContain('JOCH_SECRET_SCOPE: rule "key" of policy "inject-team-key" injects secret "team-key", which belongs to namespace "support"');
  });

  it('validates inject: header names, format with one {value}, no clash with headers in the same rule', () => {
    const rule = (action: string) => `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: p}
spec:
  rules:
    - action: ${action}
`;
    const problems = (action: string) => compileSources([{ file: 'p.yaml', text: rule(action) }]).problems.map(formatProblem);
    expect(problems('{inject: {header: authorization, secret: k, format: "Bearer {value}"}}')).toEqual([]);
    expect(problems('{inject: [{header: authorization, secret: k}, {header: x-api-key, secret: k2}]}')).toEqual([]);
    expect(problems('{inject: {header: authorization, secret: k, format: "Bearer"}}')[0]).toContain('"Bearer" is not a valid value for "format"');
    expect(problems('{inject: {header: authorization, secret: k, format: "{value}{value}"}}')[0]).toContain('"format" must contain {value} exactly once');
    expect(problems('{inject: {header: Host, secret: k}}')[0]).toContain('"Host" cannot be changed');
    expect(problems('{inject: {header: authorization, secret: k}, headers: {remove: [authorization]}}')[0]).toContain('"authorization" is both injected and changed under "headers"');
    expect(problems('{inject: {header: authorization, secret: k, value: sk-123}}')[0]).toContain('unknown field "value"');
  });
});
