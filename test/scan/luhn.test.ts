import { describe, expect, it } from 'vitest';
import { luhnValid } from '../../src/scan/luhn.js';

describe('luhnValid', () => {
  it('accepts well-known test card numbers', () => {
    for (const n of ['4111111111111111', '5555555555554444', '378282246310005', '6011111111111117', '0']) {
      expect(luhnValid(n), n).toBe(true);
    }
  });

  it('rejects a changed digit, non-digits and the empty string', () => {
    for (const n of ['4111111111111112', '41111111111111a1', '']) expect(luhnValid(n), n).toBe(false);
  });
});
