import { CssHiddenScanner, HIDING_WORDS } from './hidden.js';
import { ibanScanner, mayStartIban } from './iban.js';
import { KEY_PREFIXES, keyFormatScanner } from './key-formats.js';
import { literalsSource } from './literals.js';
import type { AnchoredScanner } from './anchored.js';
import { PHONE_WORDS } from './numbers.js';
import { PhraseCollector, WORD_ANCHORS, rulesOfAnchor } from './phrases.js';
import type { PhraseRule } from './phrase-rules.js';

// One regex pass over the lower-cased text for everything that must start a word: the phrase
// anchors and hiding declarations (injection), the phone words before national numbers and
// IBAN starts (PII), the API-key prefixes and "bearer" (secrets). Case-sensitive ones are
// looked for lower-cased here and checked in their own case at each hit. Each was a pass of
// its own, and V8 tests a literal trie at every word start, so a pass costs about the same
// whatever it looks for: several tries merged into one cost about one.
//
// A hit goes to each wanted scanner with a literal starting there. The trie reports the
// longest literal at a place, and every other literal starting there is a prefix of it, so
// each literal carries which scanners' literals start it and, for phrases, the rules of the
// longest phrase anchor among them: what that scanner's own trie would have reported.

/** The scanners the pass feeds; each is called at word starts in increasing order. */
export interface WordPassWants {
  readonly phrases?: PhraseCollector;
  readonly phones?: AnchoredScanner;
  readonly ibans?: AnchoredScanner;
  readonly keys?: AnchoredScanner;
  readonly bearer?: AnchoredScanner;
  readonly hiding?: CssHiddenScanner;
}

const PHRASES = 1;
const PHONES = 2;
const IBANS = 4;
const KEYS = 8;
const BEARER = 16;
const HIDING = 32;

const LITERALS: readonly (readonly [number, readonly string[]])[] = [
  [PHRASES, WORD_ANCHORS],
  [PHONES, PHONE_WORDS],
  [KEYS, KEY_PREFIXES.map((k) => k.toLowerCase())],
  [BEARER, ['bearer']],
  [HIDING, HIDING_WORDS],
];
// Two letters and two digits: an IBAN's start, lower-cased. Not a literal, so it follows the trie.
const IBAN_START = String.raw`[a-z]{2}\d\d`;

interface Entry {
  /** Bits of the scanners whose literals start this one. */
  readonly kinds: number;
  /** The rules of the longest phrase anchor this literal starts with. */
  readonly rules: readonly PhraseRule[];
}

interface Pass {
  readonly re: RegExp;
  readonly entries: ReadonlyMap<string, Entry>;
}

const passes = new Map<number, Pass>();

function build(mask: number): Pass {
  const wanted = LITERALS.filter(([bit]) => mask & bit);
  const all = [...new Set(wanted.flatMap(([, lits]) => lits))];
  const entries = new Map<string, Entry>();
  for (const lit of all) {
    let kinds = 0;
    for (const [bit, lits] of wanted) if (lits.some((l) => lit.startsWith(l))) kinds |= bit;
    const anchor = mask & PHRASES ? WORD_ANCHORS.filter((a) => lit.startsWith(a)).reduce((a, b) => (b.length > a.length ? b : a), '') : '';
    entries.set(lit, { kinds, rules: anchor === '' ? [] : rulesOfAnchor(anchor) });
  }
  const alternatives = [...(all.length > 0 ? [literalsSource(all)] : []), ...(mask & IBANS ? [IBAN_START] : [])];
  return { re: new RegExp(`\\b(?:${alternatives.join('|')})`, 'g'), entries };
}

/**
 * Runs the shared word-start pass over `lower` for the wanted scanners. The key and IBAN
 * scanners read the original text, so the caller must not ask for them when `\b` in `lower`
 * can differ from `\b` in the text (see wordStartsAgree).
 */
export function runWordPass(lower: string, wants: WordPassWants): void {
  const { phrases, phones, ibans, keys, bearer, hiding } = wants;
  const mask =
    (phrases ? PHRASES : 0) | (phones ? PHONES : 0) | (ibans ? IBANS : 0) | (keys ? KEYS : 0) | (bearer ? BEARER : 0) | (hiding ? HIDING : 0);
  if (mask === 0) return;
  let pass = passes.get(mask);
  if (pass === undefined) passes.set(mask, (pass = build(mask)));
  const { re, entries } = pass;
  phrases?.pass();
  re.lastIndex = 0;
  for (let m = re.exec(lower); m !== null; m = re.exec(lower)) {
    const p = m.index;
    re.lastIndex = p + 1; // literals starting inside this one are found too
    if (ibans !== undefined && mayStartIban(lower, p)) ibans.at(p);
    const e = entries.get(m[0]);
    if (e === undefined) continue; // an IBAN start only
    const k = e.kinds;
    if (k & KEYS) keys!.at(p);
    if (k & PHONES) phones!.at(p);
    if (k & BEARER) bearer!.at(p);
    if (k & HIDING) hiding!.at(p);
    if (e.rules.length > 0) phrases!.hit(p, e.rules);
  }
}

/**
 * Whether word starts (`\b`) in the lower-cased text are those of the text: true unless it holds
 * KELVIN SIGN, the one character outside ASCII that lower-cases to an ASCII letter.
 */
export function wordStartsAgree(text: string): boolean {
  return text.indexOf('\u212a') === -1;
}
