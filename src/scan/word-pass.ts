import { IbanScanner, mayStartIban } from './iban.js';
import { KEY_PREFIXES, KeyFormatScanner } from './key-formats.js';
import { literalsSource } from './literals.js';
import { ContextPhoneScanner, PHONE_WORDS } from './numbers.js';
import { PhraseCollector, WORD_ANCHORS, rulesOfAnchor } from './phrases.js';
import type { PhraseRule } from './phrase-rules.js';

// One regex pass over the lower-cased text for everything that must start a word: the phrase
// anchors (injection), the phone words before national numbers and IBAN starts (PII), and
// the API-key prefixes (secrets). Case-sensitive ones are looked for lower-cased here and
// checked in their own case at each hit. Each was
// a pass of its own, and a pass costs about as much as the literals it looks for are cheap:
// V8 tests the trie at every word start, so three tries cost three times one.
//
// A hit is dispatched to each wanted scanner whose literal starts there. The trie reports the
// longest literal at a place, and every other literal starting there is a prefix of it, so
// each literal carries, per scanner, what that scanner's own trie would have reported.

export interface WordPassWants {
  readonly phrases?: PhraseCollector;
  readonly phones?: ContextPhoneScanner;
  readonly keys?: KeyFormatScanner;
  readonly ibans?: IbanScanner;
}

interface Entry {
  /** The rules of the longest phrase anchor the literal starts with. */
  readonly rules: readonly PhraseRule[];
  readonly phone: boolean;
  readonly key: boolean;
}

const LOWER_KEYS = KEY_PREFIXES.map((k) => k.toLowerCase());
const compiled = new Map<number, { re: RegExp; entries: Map<string, Entry> }>();

// Two letters and two digits: an IBAN's start, lower-cased. Not a literal, so it follows the trie.
const IBAN_START = '[a-z]{2}\\d\\d';

function build(mask: number): { re: RegExp; entries: Map<string, Entry> } {
  const phrases = mask & 1 ? WORD_ANCHORS : [];
  const phones = mask & 2 ? PHONE_WORDS : [];
  const keys = mask & 4 ? LOWER_KEYS : [];
  const all = [...new Set([...phrases, ...phones, ...keys])];
  const entries = new Map<string, Entry>();
  for (const lit of all) {
    const anchor = phrases.filter((a) => lit.startsWith(a)).reduce((a, b) => (b.length > a.length ? b : a), '');
    entries.set(lit, {
      rules: anchor === '' ? [] : rulesOfAnchor(anchor),
      phone: phones.some((w) => lit.startsWith(w)),
      key: keys.some((k) => lit.startsWith(k)),
    });
  }
  const alternatives = [...(all.length > 0 ? [literalsSource(all)] : []), ...(mask & 8 ? [IBAN_START] : [])];
  return { re: new RegExp(`\\b(?:${alternatives.join('|')})`, 'g'), entries };
}

/**
 * Runs the shared word-start pass over `lower` for the wanted scanners. The key and IBAN
 * scanners read the original text, so the caller must not ask for them when `\b` in `lower`
 * can differ from `\b` in the text (see wordStartsAgree).
 */
export function runWordPass(lower: string, wants: WordPassWants): void {
  const mask = (wants.phrases ? 1 : 0) | (wants.phones ? 2 : 0) | (wants.keys ? 4 : 0) | (wants.ibans ? 8 : 0);
  if (mask === 0) return;
  let c = compiled.get(mask);
  if (c === undefined) compiled.set(mask, (c = build(mask)));
  const { re, entries } = c;
  const { phrases, phones, keys, ibans } = wants;
  phrases?.pass();
  re.lastIndex = 0;
  for (let m = re.exec(lower); m !== null; m = re.exec(lower)) {
    const p = m.index;
    re.lastIndex = p + 1; // literals starting inside this one are found too
    if (ibans !== undefined && mayStartIban(lower, p)) ibans.at(p);
    const e = entries.get(m[0]);
    if (e === undefined) continue; // an IBAN start
    if (e.key) keys?.at(p);
    if (e.phone) phones?.at(p);
    if (e.rules.length > 0) phrases?.hit(p, e.rules);
  }
}

/**
 * Whether word starts (`\b`) in the lower-cased text are those of the text: true unless it holds
 * KELVIN SIGN, the one character outside ASCII that lower-cases to an ASCII letter.
 */
export function wordStartsAgree(text: string): boolean {
  return text.indexOf('\u212a') === -1;
}
