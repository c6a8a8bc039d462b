import { describe, expect, it } from 'vitest';
import { isJsonText, jsonLeafTokens } from '../../src/scan/json-lexer.js';

describe('isJsonText', () => {
  it.each([
    ['{"a":1}', true],
    [' \n\t[1, "x"]', true],
    ['{"a":1', false],
    ['"just a string"', false],
    ['42', false],
    ['x {"a":1}', false],
    ['[not json]', false],
  ])('%j → %s', (text, expected) => {
    expect(isJsonText(text)).toBe(expected);
  });
});

describe('jsonLeafTokens', () => {
  it('yields keys, string values and numbers in order, with decoded values', () => {
    const raw = String.raw`{"k\"ey":["a\nb",-1.5e3,true,null,"\u0041\\"]}`;
    const leaves = [...jsonLeafTokens(raw)].map((t) => (t.kind === 'number' ? raw.slice(t.start, t.end) : t.value));
    expect(leaves).toEqual(['k"ey', 'a\nb', '-1.5e3', 'A\\']);
  });

  it('maps decoded offsets to whole escape sequences in the raw text', () => {
    const raw = String.raw`["x\u0041\n\ud83d\ude00y"]`;
    const [token] = [...jsonLeafTokens(raw)];
    if (token?.kind !== 'string') throw new Error('expected a string literal');
    expect(token.value).toBe('xA\n\u{1f600}y');
    const raws = Array.from({ length: token.value.length }, (_, k) =>
      raw.slice(token.rawOffset(k), token.rawOffset(k + 1)),
    );
    expect(raws).toEqual(['x', String.raw`\u0041`, String.raw`\n`, String.raw`\ud83d`, String.raw`\ude00`, 'y']);
    expect(raw.charAt(token.rawOffset(token.value.length))).toBe('"');
  });

  it('maps offsets of literals without escapes too', () => {
    const raw = '{"a":"hello"}';
    const tokens = [...jsonLeafTokens(raw)];
    const hello = tokens[1];
    if (hello?.kind !== 'string') throw new Error('expected a string literal');
    expect(raw.slice(hello.rawOffset(1), hello.rawOffset(5))).toBe('ello');
  });
});
