import { AnchoredScanner } from './anchored.js';
import type { Finding } from './types.js';

// IBAN lengths by country (ISO 13616 registry, the commonly seen subset).
const IBAN_LENGTH: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, CH: 21, CR: 22, CY: 28,
  CZ: 24, DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23,
  GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28,
  LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15,
  PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SE: 24, SI: 19, SK: 24, SM: 27, TN: 24,
  TR: 26, UA: 29, VG: 24, XK: 20,
};

// Country code, check digits, then groups of up to four; the compact form or groups of four
// separated by single spaces. Bounded: at most 34 characters of IBAN plus 8 spaces.
const CANDIDATE = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}/g; // \b: only word starts are tried; the rest of the boundaries are checked after

/** ISO 7064 mod 97-10 over the rearranged IBAN, computed digit by digit. */
export function ibanValid(compact: string): boolean {
  if (IBAN_LENGTH[compact.slice(0, 2)] !== compact.length) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const c = rearranged.charCodeAt(i);
    const v = c <= 0x39 ? c - 0x30 : c - 0x41 + 10;
    rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

export function scanIbans(text: string, out: Finding[]): void {
  CANDIDATE.lastIndex = 0;
  for (let m = CANDIDATE.exec(text); m !== null; m = CANDIDATE.exec(text)) ibanAt(text, m.index, m[0], out);
}

const CANDIDATE_AT = new RegExp(CANDIDATE.source.slice(2), 'y'); // without the \b: callers visit word starts

/** scanIbans driven by a word pass (word-pass.ts): candidates are matched on the text itself. */
export function ibanScanner(text: string, out: Finding[]): AnchoredScanner {
  return new AnchoredScanner(CANDIDATE_AT, (t, end, found, start) => void ibanAt(t, start, t.slice(start, end), found), text, text, out);
}

/** Two letters then two digits, any case: where `at` may find a candidate once the case is checked. */
export function mayStartIban(lower: string, p: number): boolean {
  const a = lower.charCodeAt(p);
  const b = lower.charCodeAt(p + 1);
  const c = lower.charCodeAt(p + 2);
  const d = lower.charCodeAt(p + 3);
  return a >= 0x61 && a <= 0x7a && b >= 0x61 && b <= 0x7a && c >= 0x30 && c <= 0x39 && d >= 0x30 && d <= 0x39;
}

/** Judges the candidate `m` found at word start `i`. */
function ibanAt(text: string, i: number, m: string, out: Finding[]): void {
  if (isAlnum(text.charCodeAt(i + m.length))) return;
  const spaced = m.includes(' ');
  // Spaced IBANs come in groups of exactly four (the last may be shorter).
  if (spaced && !/^[A-Z]{2}\d{2}(?: [A-Z0-9]{4})*(?: [A-Z0-9]{1,4})$/.test(m)) return;
  if (ibanValid(m.replaceAll(' ', ''))) {
    out.push({ class: 'pii', type: 'IBAN', start: i, end: i + m.length, score: 0.9, rule: 'pii.iban' });
  }
}
