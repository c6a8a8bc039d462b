import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../src/policy/glob.js';
import { compileSafeRegex, MAX_PATTERN_LENGTH } from '../../src/policy/regex.js';

describe('compileGlob', () => {
  it('handles the one-wildcard shapes without a regex', () => {
    expect(compileGlob('gpt-*', 'text')('gpt-')).toBe(true);
    expect(compileGlob('*-mini', 'text')('gpt-4o-mini')).toBe(true);
    expect(compileGlob('a*a', 'text')('a')).toBe(false);
    expect(compileGlob('a*a', 'text')('aa')).toBe(true);
    expect(compileGlob('/v1/*/x', 'path')('/v1//x')).toBe(true);
    expect(compileGlob('/v1/*/x', 'path')('/v1/a/b/x')).toBe(false);
  });
  it('escapes regex metacharacters in multi-wildcard globs', () => {
    const g = compileGlob('a.b*(c)*', 'text');
    expect(g('a.b-(c)-')).toBe(true);
    expect(g('axb-(c)-')).toBe(false);
  });
  it('agrees with a reference implementation on random text globs', () => {
    const alphabet = fc.constantFrom('a', 'b', '.', '/', '*');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b', '.', '/'), maxLength: 12 }), (pattern, subject) => {
        const reference = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.\\/]/g, '\\$&')).join('.*')}$`, 's');
        expect(compileGlob(pattern, 'text')(subject)).toBe(reference.test(subject));
      }),
      { numRuns: 2000 },
    );
  });
  it('agrees with a reference implementation on random host globs', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '.', '*'), maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b', '.'), maxLength: 12 }), (pattern, subject) => {
        let body = pattern;
        let lead = '';
        if (body.startsWith('*.')) {
          lead = '(?:[^.]+\\.)+';
          body = body.slice(2);
        }
        const reference = new RegExp(`^${lead}${body.split('*').map((p) => p.replace(/\./g, '\\.')).join('[^.]*')}$`);
        expect(compileGlob(pattern, 'host')(subject)).toBe(reference.test(subject));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('path globs', () => {
  it('agree with a reference implementation (* within a segment, ** across)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '/', '*'), maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b', '/'), maxLength: 12 }), (pattern, subject) => {
        const source = pattern.replace(/\*\*|\*|\//g, (m) => (m === '**' ? '.*' : m === '*' ? '[^/]*' : '\\/'));
        expect(compileGlob(pattern, 'path')(subject)).toBe(new RegExp(`^${source}$`).test(subject));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('compileSafeRegex', () => {
  it('refuses overlong patterns', () => {
    expect(() => compileSafeRegex('a'.repeat(MAX_PATTERN_LENGTH + 1))).toThrow(/limit is 1024/);
  });
  it('explains syntax errors', () => {
    expect(() => compileSafeRegex('(')).toThrow(/invalid regular expression .*missing closing \)/);
  });
});
