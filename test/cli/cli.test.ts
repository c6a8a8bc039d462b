import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import type { CliIO } from '../../src/cli/io.js';

/** Runs a verb in-process and captures what it prints. */
async function run(argv: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = { out: (t) => void (out += t), err: (t) => void (err += t), readStdin: async () => stdin };
  const code = await main(argv, io);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'joch-cli-'));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('joch --help', () => {
  it('lists every command', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    for (const verb of ['serve', 'validate', 'eval']) expect(out).toMatch(new RegExp(`^  ${verb} `, 'm'));
  });
  it.each(['serve', 'validate', 'eval'])('joch %s --help documents every flag', async (verb) => {
    const { code, out } = await run([verb, '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`^Usage: joch ${verb} `));
    expect(out).toContain('-f, --file PATH');
    expect(out).toContain('-h, --help');
  });
  it('rejects an unknown command and an unknown flag with usage (exit 2)', async () => {
    expect(await run(['frobnicate'])).toMatchObject({ code: 2, err: expect.stringContaining('unknown command "frobnicate"') });
    const r = await run(['validate', '--nope']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^joch validate: Unknown option '--nope'/);
    expect(r.err).toContain('Usage: joch validate');
  });
  it('prints the version', async () => {
    expect((await run(['--version'])).out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe('joch validate', () => {
  it('passes the shipped policies', async () => {
    const { code, out } = await run(['validate', '-f', 'policies']);
    expect(out).toBe('6 policies in 6 files: valid\n');
    expect(code).toBe(0);
  });
  it('fails the seed as printed with file:line:col lines and exit 1', async () => {
    const { code, out } = await run(['validate', '-f', 'test/fixtures/seed-policy.yaml']);
    expect(code).toBe(1);
    expect(out.split('\n')[0]).toBe(
      'test/fixtures/seed-policy.yaml:24:9: JOCH_YAML_SYNTAX: Implicit keys need to be on a single line (MULTILINE_IMPLICIT_KEY)',
    );
    expect(out).toContain('  hint: "deny" is the value of "action", and "reason" is a sibling key; write them as:\n        action: deny\n        reason: model-not-permitted');
    expect(out.trimEnd().split('\n').at(-1)).toBe('2 errors, 0 warnings');
  });
  it('reports unreadable paths and empty folders', async () => {
    const missing = await run(['validate', '-f', join(dir, 'nope.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.out).toContain('JOCH_IO: cannot read');
    const empty = mkdtempSync(join(tmpdir(), 'joch-empty-'));
    expect((await run(['validate', '-f', empty])).out).toContain(`JOCH_IO: no *.yaml or *.yml files under ${empty}`);
  });
  it('prints JSON with --format json', async () => {
    const { code, out } = await run(['validate', '--format', 'json', '-f', 'test/fixtures/seed-policy.yaml']);
    expect(code).toBe(1);
    const parsed = JSON.parse(out) as { ok: boolean; problems: { code: string; location: { line: number; col: number } }[] };
    expect(parsed.ok).toBe(false);
    expect(parsed.problems[0]).toMatchObject({ code: 'JOCH_YAML_SYNTAX', location: { line: 24, col: 9 } });
  });
  it('exits 0 with warnings only', async () => {
    const path = file(
      'warn.yaml',
      'apiVersion: joch.dev/v1alpha1\nkind: Policy\nmetadata: {name: w}\nspec:\n  rules:\n    - when: {model.provider: not-allowlisted}\n      action: deny\n',
    );
    const { code, out } = await run(['validate', '-f', path]);
    expect(code).toBe(0);
    expect(out).toContain('warning JOCH_POLICY_ALLOWLIST');
    expect(out).toContain('1 policy in 1 file: valid (1 warning)');
  });
});

describe('joch eval', () => {
  const ctx = {
    hook: 'message',
    namespace: 'support-platform',
    environment: 'prod',
    agent: { name: 'support-bot', labels: { env: 'prod' } },
    model: { provider: 'shady-llm', name: 'x-1' },
  };
  it('prints the decision as JSON', async () => {
    const { code, out } = await run(['eval', '-f', 'policies', '--context', file('ctx.json', JSON.stringify(ctx))]);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({
      decision: 'deny',
      reason: 'model-not-permitted',
      policyId: 'no-external-send-without-approval',
      ruleId: 'model-allowlist',
    });
  });
  it('reads the context from standard input and takes an array', async () => {
    const { out } = await run(['eval', '-f', 'policies', '-c', '-'], JSON.stringify([ctx, { ...ctx, model: { provider: 'openai' } }]));
    expect((JSON.parse(out) as { decision: string }[]).map((d) => d.decision)).toEqual(['deny', 'allow']);
  });
  it('--explain says which policies applied and why each rule matched or not', async () => {
    const { out } = await run(['eval', '-f', 'policies', '-c', '-', '--explain'], JSON.stringify({ ...ctx, agent: { labels: { env: 'prod' } } }));
    const r = JSON.parse(out) as {
      decision: { decision: string };
      explain: { policies: { policyId: string; applies: boolean; why?: string; rules: { ruleId: string; result: string; conditions?: { actual?: unknown } }[] }[] };
    };
    expect(r.decision.decision).toBe('deny');
    const seed = r.explain.policies.find((p) => p.policyId === 'no-external-send-without-approval');
    expect(seed?.applies).toBe(true);
    expect(seed?.rules.map((x) => [x.ruleId, x.result])).toEqual([
      ['external-write-needs-approval', 'not-matched'],
      ['redact-pii', 'not-matched'],
      ['model-allowlist', 'matched'],
      ['run-budget', 'skipped'],
    ]);
    expect(seed?.rules[2]?.conditions).toEqual({ path: 'model.provider', expected: 'not-allowlisted', actual: 'shady-llm', result: true });
    const staging = await run(['eval', '-f', 'policies', '-c', '-', '--explain'], JSON.stringify({ ...ctx, agent: { labels: { env: 'staging' } } }));
    const sp = (JSON.parse(staging.out) as typeof r).explain.policies.find((p) => p.policyId === 'no-external-send-without-approval');
    expect(sp).toMatchObject({ applies: false, why: 'selector wants env=prod; agent has env=staging' });
  });
  it('rejects invalid JSON with its position and schema violations with their pointer', async () => {
    const bad = await run(['eval', '-f', 'policies', '-c', '-'], '{\n  "hook": "message",\n  oops\n}');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^<stdin>:3:3: JOCH_CONTEXT_INVALID: not valid JSON: /);
    const wrong = await run(['eval', '-f', 'policies', '-c', '-'], JSON.stringify({ hook: 'mesage', cost: { runUsd: 'lots' }, extra: 1 }));
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('<stdin>: at /hook: JOCH_CONTEXT_INVALID: "mesage" is not allowed here; use one of: toolCallRequest');
    expect(wrong.err).toContain('hint: did you mean "message"?');
    expect(wrong.err).toContain('<stdin>: at /cost/runUsd: JOCH_CONTEXT_INVALID: "runUsd" must be a number, not string "lots"');
    expect(wrong.err).toContain('<stdin>: at /extra: JOCH_CONTEXT_INVALID: unknown field "extra" in the document');
    const missing = await run(['eval', '-f', 'policies', '-c', '-'], '{}');
    expect(missing.err).toContain('<stdin>: at /: JOCH_CONTEXT_INVALID: the document is missing required field "hook"');
  });
  it('refuses to evaluate against invalid policies', async () => {
    const r = await run(['eval', '-f', 'test/fixtures/seed-policy.yaml', '-c', '-'], JSON.stringify(ctx));
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain('seed-policy.yaml:24:9');
  });
  it('applies --default-decision', async () => {
    const { out } = await run(['eval', '-f', 'policies', '-c', '-', '--default-decision', 'deny'], JSON.stringify({ hook: 'agentTrigger' }));
    expect(JSON.parse(out)).toMatchObject({ decision: 'deny', reason: 'default-deny' });
    expect((await run(['eval', '-f', 'policies', '-c', '-', '--default-decision', 'maybe'], '{}')).code).toBe(2);
  });
});

describe('the built binary', () => {
  it('bin/joch.js validate runs from the compiled output', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['bin/joch.js', 'validate', '-f', 'policies']);
    expect(stdout).toBe('6 policies in 6 files: valid\n');
    const failed = await promisify(execFile)(process.execPath, ['bin/joch.js', 'validate', '-f', 'test/fixtures/seed-policy.yaml']).catch((e: { code: number; stdout: string }) => e);
    expect(failed).toMatchObject({ code: 1 });
  });
});
