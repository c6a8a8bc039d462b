import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSafeRegex } from '../../src/policy/regex.js';
import { requiredLiteral } from '../../src/policy/regex-literal.js';

describe('requiredLiteral', () => {
  it('finds the longest plain run outside groups, classes and quantifiers', () => {
    expect(requiredLiteral('^(drop|delete)_table_5$')).toBe('_table_5');
    expect(requiredLiteral('abc+de')).toBe('ab');
    expect(requiredLiteral('x[a-z]*yz.w')).toBe('yz');
    expect(requiredLiteral('a*?bcd')).toBe('bcd');
    expect(requiredLiteral('[]x]yy')).toBe('yy');
  });

  it('gives up where it cannot be sure', () => {
    for (const p of ['a|bcd', '(?i)abc', 'ab\\.cd', 'a{2}bc', 'caf\u00e9', '.*', '(abc)']) expect(requiredLiteral(p)).toBeUndefined();
  });

  it('names a literal every match contains (against RE2, on random patterns)', () => {
    const token = fc.constantFrom('a', 'b', 'c', 'ab', '.', '*', '+', '?', '^', '$', '(', ')', '|', '[ab]', '[^a]', '[]a]', '(a|b)', '*?');
    const subject = fc.stringMatching(/^[abc]{0,8}$/);
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), fc.array(subject, { minLength: 1, maxLength: 10 }), (tokens, subjects) => {
        const pattern = tokens.join('');
        let re: (s: string) => boolean;
        try {
          re = compileSafeRegex(pattern);
        } catch {
          return; // not a valid pattern: policies with it do not compile
        }
        const literal = requiredLiteral(pattern);
        if (literal === undefined) return;
        for (const s of subjects) if (re(s)) expect(s).toContain(literal);
      }),
      { numRuns: 3000 },
    );
  });
});
