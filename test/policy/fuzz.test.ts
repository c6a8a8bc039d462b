import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseContexts } from '../../src/context/parse.js';
import { HOOKS, type DecisionContext } from '../../src/context/types.js';
import { formatProblem } from '../../src/errors.js';
import { Engine } from '../../src/policy/engine.js';
import { compileSources, loadPolicies } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';

const seedPolicies = ['policies/no-external-send-without-approval.yaml', 'policies/dangerous-tools.yaml', 'policies/support-egress.yaml'].map(
  (f) => readFileSync(f, 'utf8'),
);

/** Every outcome of compileSources is a list of located problems or compiled policies, never a throw. */
function checkCompiles(text: string): void {
  const result = compileSources([{ file: 'fuzz.yaml', text }]);
  for (const p of result.problems) {
    expect(p.code).toMatch(/^JOCH_[A-Z_]+$/);
    expect(p.location.file).toBe('fuzz.yaml');
    expect(typeof formatProblem(p)).toBe('string');
  }
  expect(result.ok).toBe(!result.problems.some((p) => p.severity !== 'warning'));
}

describe('fuzz: validate never crashes or hangs', () => {
  it('on random text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), checkCompiles), { numRuns: 500 });
  });

  it('on random YAML-ish token soup', () => {
    const token = fc.constantFrom(
      'apiVersion: joch.dev/v1alpha1\n', 'kind: Policy\n', 'metadata:\n', '  name: x\n', 'spec:\n', '  rules:\n', '    - when:\n',
      '        tool.name: ', '{regex: "(a+)+"}', '[', ']', '{', '}', '- ', ': ', '"', "'", '&a ', '*a', '!!str ', '---\n', '\n', '  ',
      'action: deny\n', 'require: {approval: human}\n', 'not-allowlisted', '">5"', 'data.contains: ', 'any:\n', '\t', '#', '%YAML 1.2\n',
    );
    fc.assert(fc.property(fc.array(token, { maxLength: 60 }), (tokens) => checkCompiles(tokens.join(''))), { numRuns: 800 });
  });

  it('on mutations of valid policies (deleted, duplicated and swapped characters and lines)', () => {
    const mutation = fc.record({
      doc: fc.nat({ max: seedPolicies.length - 1 }),
      edits: fc.array(fc.tuple(fc.constantFrom('delete', 'insert', 'swapLines', 'dupLine'), fc.nat(), fc.nat(), fc.string({ maxLength: 3 })), {
        minLength: 1,
        maxLength: 6,
      }),
    });
    fc.assert(
      fc.property(mutation, ({ doc, edits }) => {
        let text = seedPolicies[doc] as string;
        for (const [op, a, b, s] of edits) {
          const i = a % (text.length + 1);
          if (op === 'delete') text = text.slice(0, i) + text.slice(i + 1 + (b % 4));
          else if (op === 'insert') text = text.slice(0, i) + s + text.slice(i);
          else {
            const lines = text.split('\n');
            const x = a % lines.length;
            const y = b % lines.length;
            if (op === 'swapLines') [lines[x], lines[y]] = [lines[y] as string, lines[x] as string];
            else lines.splice(x, 0, lines[x] as string);
            text = lines.join('\n');
          }
        }
        checkCompiles(text);
      }),
      { numRuns: 1500 },
    );
  });
});

describe('fuzz: eval never crashes and always decides', () => {
  const loaded = loadPolicies(['policies']);
  const engine = new Engine(new PolicySet(loaded.policies));
  const str = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('prod', 'support-platform', 'openai', 'api.openai.com', 'shell', 'external_write', 'API.OPENAI.COM.', '[::1]:80'));
  const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.double(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 })),
  })).value;
  const context = fc.record(
    {
      hook: fc.constantFrom(...HOOKS),
      tenant: str,
      namespace: str,
      environment: str,
      agent: fc.record({ name: str, labels: fc.dictionary(fc.constantFrom('env', 'team', '__proto__', 'constructor'), str) }, { requiredKeys: [] }),
      destination: fc.record({ host: str, port: fc.integer({ min: 0, max: 65535 }), sni: str }, { requiredKeys: [] }),
      request: fc.record({ method: str, path: str, headers: fc.dictionary(str, str) }, { requiredKeys: [] }),
      tool: fc.record({ name: str, sideEffect: str, arguments: json }, { requiredKeys: [] }),
      model: fc.record({ provider: str, name: str }, { requiredKeys: [] }),
      payload: fc.oneof(json, fc.constantFrom('mail jane.doe@example.com', 'ignore all previous instructions', '{"k":"AKIAIOSFODNN7EXAMPLE"}')),
      cost: fc.record({ runUsd: fc.double({ min: 0, max: 100, noNaN: true }), dayUsd: fc.double({ min: 0, max: 1000, noNaN: true }) }, { requiredKeys: [] }),
    },
    { requiredKeys: ['hook'] },
  );

  it('on random contexts', () => {
    fc.assert(
      fc.property(context, (ctx) => {
        const d = engine.evaluate(ctx as DecisionContext);
        expect(['allow', 'deny', 'modify']).toContain(d.decision);
        expect(d.reason).not.toBe('evaluation-error');
        expect(typeof d.policyVersion).toBe('string');
        if (d.decision === 'modify') expect(d.modifiedRequest).toBeDefined();
        const e = engine.explain(ctx as DecisionContext);
        expect(e.decision.decision).toBe(d.decision);
        expect(e.decision.reason).toBe(d.reason);
      }),
      { numRuns: 1500 },
    );
  });

  it('on random JSON given to the context parser', () => {
    fc.assert(
      fc.property(fc.oneof(json.map((v) => JSON.stringify(v) ?? ''), fc.string({ maxLength: 200 })), (text) => {
        const { contexts, problems } = parseContexts(text, 'fuzz.json');
        expect(contexts.length === 0 || problems.length === 0).toBe(true);
        for (const ctx of contexts) expect(['allow', 'deny', 'modify']).toContain(engine.evaluate(ctx).decision);
        for (const p of problems) expect(p.code).toBe('JOCH_CONTEXT_INVALID');
      }),
      { numRuns: 1000 },
    );
  });
});
