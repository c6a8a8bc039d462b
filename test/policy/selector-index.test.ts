import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSources } from '../../src/policy/load.js';
import { SelectorIndex } from '../../src/policy/selector-index.js';

const key = fc.constantFrom('env', 'team', 'tier');
const value = fc.constantFrom('a', 'b', 'c');
const expression = fc.oneof(
  fc.record({ key, operator: fc.constantFrom('In', 'NotIn'), values: fc.uniqueArray(value, { minLength: 1, maxLength: 3 }) }),
  fc.record({ key, operator: fc.constantFrom('Exists', 'DoesNotExist') }),
);
const selector = fc.record({ matchLabels: fc.dictionary(key, value, { maxKeys: 2 }), matchExpressions: fc.array(expression, { maxLength: 3 }) }, { requiredKeys: [] });

describe('SelectorIndex', () => {
  it('scans short lists instead of indexing them', () => {
    const docs = [0, 1, 2].map((i) => JSON.stringify({ apiVersion: 'joch.dev/v1alpha1', kind: 'Policy', metadata: { name: `p${i}` }, spec: { appliesTo: { agents: { selector: { matchLabels: { env: 'a' } } } }, rules: [{ action: 'deny' }] } }));
    const { policies } = compileSources([{ file: 'x.yaml', text: docs.join('\n---\n') }]);
    expect(new SelectorIndex(policies).select({ env: 'b' })).toHaveLength(3);
    expect(new SelectorIndex(policies, 0).select({ env: 'b' })).toHaveLength(0);
  });

  it('selects, in order, exactly the policies whose selectors match (after the full check)', () => {
    fc.assert(
      fc.property(fc.array(selector, { minLength: 1, maxLength: 12 }), fc.dictionary(key, value, { maxKeys: 3 }), (selectors, labels) => {
        const docs = selectors.map((s, i) => JSON.stringify({ apiVersion: 'joch.dev/v1alpha1', kind: 'Policy', metadata: { name: `p${i}` }, spec: { appliesTo: { agents: { selector: s } }, rules: [{ action: 'deny' }] } }));
        const { policies, problems } = compileSources([{ file: 'x.yaml', text: docs.join('\n---\n') }]);
        expect(problems).toEqual([]);
        const index = new SelectorIndex(policies, 0); // always index: short lists are otherwise scanned
        const viaIndex = index.select(labels).filter((p) => p.selector.matches(labels));
        const direct = policies.filter((p) => p.selector.matches(labels));
        expect(viaIndex.map((p) => p.name)).toEqual(direct.map((p) => p.name));
        // The scratch counters are reset: a second call gives the same answer.
        expect(index.select(labels).filter((p) => p.selector.matches(labels)).map((p) => p.name)).toEqual(direct.map((p) => p.name));
      }),
      { numRuns: 1000 },
    );
  });
});
