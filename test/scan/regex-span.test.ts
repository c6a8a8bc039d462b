import { describe, expect, it } from 'vitest';
import { MAX_PHRASE, PHRASE_RULES } from '../../src/scan/phrase-rules.js';
import { regexSpan } from '../../src/scan/regex-span.js';

describe('regexSpan', () => {
  it('bounds literals, classes, groups, alternations and bounded quantifiers', () => {
    expect(regexSpan('abc', false)).toBe(3);
    expect(regexSpan('a|bcd|ef', false)).toBe(3);
    expect(regexSpan('(?:ab|c){2,4}d?', false)).toBe(9);
    expect(regexSpan(String.raw`[^.!?\n]{0,40}?x`, false)).toBe(41);
    expect(regexSpan(String.raw`\x60\.\s{1,3}`, false)).toBe(5);
  });

  it('counts what assertions and look-arounds peek at, and surrogate pairs under the u flag', () => {
    expect(regexSpan(String.raw`\bab\b`, false)).toBe(4);
    expect(regexSpan(String.raw`a(?=\s{0,3}b)`, false)).toBe(5);
    expect(regexSpan(String.raw`(?<![^\n])x$`, false)).toBe(3);
    expect(regexSpan(String.raw`\p{L}{0,3}`, true)).toBe(6);
    expect(regexSpan('[a-z]{2}', true)).toBe(4);
  });

  it('is unbounded for *, + and open ranges, and for back-references', () => {
    expect(regexSpan('ab*', false)).toBe(Infinity);
    expect(regexSpan('a+', false)).toBe(Infinity);
    expect(regexSpan('a{2,}', false)).toBe(Infinity);
    expect(regexSpan(String.raw`(a)\1`, false)).toBe(Infinity);
  });

  it('is never below the length of an actual match', () => {
    const cases: [string, string][] = [
      [String.raw`\b(?:send|exfiltrate)\b[^.!?\n]{0,40}?(?:\.aws/credentials|\.env\b)`, 'exfiltrate ' + 'x'.repeat(39) + '.aws/credentials'],
      [String.raw`(?:a|bb){1,3}c`, 'bbbbbbc'],
    ];
    for (const [source, text] of cases) {
      const m = new RegExp(source).exec(text);
      expect(m?.[0].length).toBe(text.length);
      expect(regexSpan(source, false)).toBeGreaterThanOrEqual(text.length);
    }
  });
});

describe('phrase rules', () => {
  it('are all bounded by MAX_PHRASE, which sizes the windows searched around anchors', () => {
    for (const r of PHRASE_RULES) {
      expect(regexSpan(r.re.source, r.re.unicode), r.rule).toBeLessThanOrEqual(MAX_PHRASE);
      expect(r.span, r.rule).toBe(regexSpan(r.re.source, r.re.unicode));
    }
  });
});
