import { CARD_MAX_DIGITS, CARD_MIN_DIGITS, isCardNumber } from './card.js';
import { isDigit, isWordChar } from './chars.js';
import type { Ipv4Scanner } from './ip.js';
import type { Finding } from './types.js';
import { AnchoredScanner } from './anchored.js';

const PLUS = 0x2b;
const OPEN_PAREN = 0x28;
const HYPHEN = 0x2d;
const DOT = 0x2e;
const SPACE = 0x20;

// Every pattern below is sticky and of bounded length, so one attempt costs O(1) and the
// scan, which makes at most one attempt per candidate position, is linear.
const SSN = /(\d{3})-(\d{2})-(\d{4})/y;
// North-American numbers: area and exchange codes start with 2-9; the two separators must agree.
const NANP_DELIMITED = /(?:\+?1[-. ])?[2-9]\d{2}([-.])[2-9]\d{2}\1\d{4}/y;
const NANP_PAREN = /(?:\+?1 ?)?\([2-9]\d{2}\) ?[2-9]\d{2}[-.]\d{4}/y;
const E164_MIN_DIGITS = 8;
const E164_MAX_DIGITS = 15;
const CARD_MIN_GROUP = 3;

type Match = readonly [type: string, rule: string, score: number, end: number];

// Every number found here has a '+', '(' or digit not glued to a word, then 7+ more
// characters of digits and separators: one native regex pass yields just those places.
// Digit-led at a word start, with no look-behind, so V8 tries few places; a '+' or '(' before it is looked at after.
const CANDIDATE = /\b\d[\d \-.()]{6}/g;

/**
 * Phone numbers, US SSNs and payment cards in one left-to-right pass. Candidates start at a
 * '+', a '(' or the first digit of a digit run, and only where the run is not glued to a
 * word or a longer number, so ids, versions, dates, UUIDs and hashes do not match. Every
 * candidate is also offered to `ipv4`, whose addresses start at such places too.
 */
export function scanNumbers(text: string, out: Finding[], ipv4?: Ipv4Scanner): void {
  let next = 0; // where the last number ended: candidates before it are inside it
  CANDIDATE.lastIndex = 0;
  for (let c = CANDIDATE.exec(text); c !== null; c = CANDIDATE.exec(text)) {
    const d = c.index;
    CANDIDATE.lastIndex = d + 1;
    ipv4?.at(d);
    if (d < next) continue;
    const lead = text.charCodeAt(d - 1);
    const hasLead = (lead === 0x2b || lead === OPEN_PAREN) && !isWordChar(text.charCodeAt(d - 2));
    let i = hasLead ? d - 1 : d;
    let m = matchAt(text, i);
    if (m === undefined && hasLead) m = matchAt(text, (i = d)); // "+4111…": the digits may be a card on their own
    if (m !== undefined) {
      out.push({ class: 'pii', type: m[0], start: i, end: m[3], score: m[2], rule: m[1] });
      next = m[3];
    }
  }
}

// National numbers without a '+' ("Tel: 020 7946 0958", "mobile 06 12 34 56 78") are told
// from order numbers and ids only by the word before them.
export const PHONE_WORDS: readonly string[] = [
  'phone', 'tel', 'telephone', 'mobile', 'cell', 'fax', 'whatsapp', 'téléphone', 'portable', 'telefon', 'teléfono', 'telefone', 'handy', 'móvil', 'cellulare',
];
const PHONE_CONTEXT_SOURCE = String.raw`(?:${PHONE_WORDS.join('|')})(?:\s{0,3}(?:number|no\.?|nr\.?|#))?\s{0,3}[:=]?\s{0,3}(?=[(\d])`;
const PHONE_CONTEXT = new RegExp(String.raw`\b${PHONE_CONTEXT_SOURCE}`, 'g');
const PHONE_CONTEXT_AT = new RegExp(PHONE_CONTEXT_SOURCE, 'y');
const NATIONAL = /\(?\d[\d ().-]{6,22}\d/y;

/** Phone numbers after a phone word ("tel:", "mobile") in `lower`, the lower-cased `text`. */
export function scanContextPhones(text: string, lower: string, out: Finding[]): void {
  PHONE_CONTEXT.lastIndex = 0;
  for (let m = PHONE_CONTEXT.exec(lower); m !== null; m = PHONE_CONTEXT.exec(lower)) {
    const end = contextPhoneAt(text, PHONE_CONTEXT.lastIndex, out);
    if (end !== undefined) PHONE_CONTEXT.lastIndex = end;
  }
}

/** scanContextPhones driven by a word pass (word-pass.ts). */
export function contextPhoneScanner(text: string, lower: string, out: Finding[]): AnchoredScanner {
  return new AnchoredScanner(PHONE_CONTEXT_AT, contextPhoneAt, text, lower, out);
}

/** Reports the national number starting at `start` (just after a phone word), if any, and returns its end. */
function contextPhoneAt(text: string, start: number, out: Finding[]): number | undefined {
  NATIONAL.lastIndex = start;
  const n = NATIONAL.exec(text);
  if (n === null) return undefined;
  const digits = n[0].replace(/\D/g, '').length;
  const doubled = /[ ().-]{2}/.test(n[0].replace(/\) /g, ')'));
  if (digits < 8 || digits > 15 || doubled || !endsCleanly(text, start + n[0].length)) return undefined;
  out.push({ class: 'pii', type: 'PHONE', start, end: start + n[0].length, score: 0.75, rule: 'pii.phone.context' });
  return start + n[0].length;
}

function matchAt(text: string, i: number): Match | undefined {
  const c = text.charCodeAt(i);
  if (c === PLUS || c === OPEN_PAREN) {
    if (isWordChar(text.charCodeAt(i - 1)) || !isDigit(text.charCodeAt(i + 1))) return undefined;
    return matchNanp(text, i) ?? (c === PLUS ? matchE164(text, i) : undefined);
  }
  if (!isDigit(c) || !startsCleanly(text, i)) return undefined;
  return matchNanp(text, i) ?? matchSsn(text, i) ?? matchCard(text, i);
}

/** Not inside a word or number: "ORD-4111…", "v1.2", "x123-45-6789" are rejected. */
function startsCleanly(text: string, i: number): boolean {
  const prev = text.charCodeAt(i - 1);
  if (isWordChar(prev)) return false;
  if (prev === HYPHEN) return !isWordChar(text.charCodeAt(i - 2));
  if (prev === DOT) return !isDigit(text.charCodeAt(i - 2));
  return true;
}

function endsCleanly(text: string, end: number): boolean {
  const next = text.charCodeAt(end);
  if (isWordChar(next)) return false;
  if (next === HYPHEN) return !isWordChar(text.charCodeAt(end + 1));
  if (next === DOT) return !isDigit(text.charCodeAt(end + 1));
  return true;
}

function sticky(re: RegExp, text: string, i: number): RegExpExecArray | null {
  re.lastIndex = i;
  return re.exec(text);
}

/** A match only counts where it ends cleanly, so callers can fall through to the next pattern. */
function cleanMatch(text: string, type: string, rule: string, score: number, end: number): Match | undefined {
  return endsCleanly(text, end) ? [type, rule, score, end] : undefined;
}

/** NANP numbers start with '+', '(', '1' followed by a separator, or an area code whose 4th character is a separator or digits then one. */
function maybeNanp(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c === PLUS || c === OPEN_PAREN || c === 0x31) return true;
  const sep = text.charCodeAt(i + 3);
  return sep === HYPHEN || sep === DOT || sep === 0x29;
}

function matchNanp(text: string, i: number): Match | undefined {
  if (!maybeNanp(text, i)) return undefined;
  const m = sticky(NANP_DELIMITED, text, i) ?? sticky(NANP_PAREN, text, i);
  return m ? cleanMatch(text, 'PHONE', 'pii.phone.nanp', 0.7, i + m[0].length) : undefined;
}

function matchSsn(text: string, i: number): Match | undefined {
  if (text.charCodeAt(i + 3) !== HYPHEN) return undefined; // cheap test before the regex
  const m = sticky(SSN, text, i);
  if (!m) return undefined;
  const [, area = '', group = '', serial = ''] = m;
  // Never-issued ranges (SSA): area 000, 666 and 900-999, group 00, serial 0000.
  if (area === '000' || area === '666' || area[0] === '9' || group === '00' || serial === '0000') return undefined;
  return cleanMatch(text, 'SSN', 'pii.ssn', 0.85, i + m[0].length);
}

/** '+', a non-zero country-code digit, then 8-15 digits in total, singly separated by spaces or dashes. */
function matchE164(text: string, i: number): Match | undefined {
  if (text.charCodeAt(i + 1) === 0x30) return undefined;
  let p = i + 1;
  let digits = 0;
  for (;;) {
    const c = text.charCodeAt(p);
    if (isDigit(c)) {
      if (++digits > E164_MAX_DIGITS) return undefined;
      p++;
    } else if ((c === SPACE || c === HYPHEN) && isDigit(text.charCodeAt(p + 1))) {
      p++;
    } else {
      break;
    }
  }
  return digits >= E164_MIN_DIGITS ? cleanMatch(text, 'PHONE', 'pii.phone.e164', 0.7, p) : undefined;
}

/**
 * 13-19 digits, either one unbroken run or groups of 3+ digits joined by one consistent
 * separator (space or dash). A longer unbroken run is rejected outright; with groups, the
 * longest prefix of whole groups that is a valid card wins ("4111 1111 1111 1111 2024").
 */
function matchCard(text: string, i: number): Match | undefined {
  const first = text.charCodeAt(i);
  if (first < 0x32 || first > 0x36) return undefined; // every issuer prefix starts with 2-6
  let p = i;
  let digits = '';
  let sep = -1;
  let best: Match | undefined;
  for (;;) {
    const groupStart = p;
    while (isDigit(text.charCodeAt(p)) && digits.length + (p - groupStart) <= CARD_MAX_DIGITS) p++;
    digits += text.slice(groupStart, p); // a group at a time: most candidates are short dates and ids
    const groupLen = p - groupStart;
    if (digits.length > CARD_MAX_DIGITS) {
      if (groupLen === digits.length) return undefined; // an unbroken run too long to be a card
      break;
    }
    if (groupLen < CARD_MIN_GROUP) break;
    if (digits.length >= CARD_MIN_DIGITS && isCardNumber(digits)) {
      best = cleanMatch(text, 'CARD', 'pii.card', 0.95, p) ?? best;
    }
    const c = text.charCodeAt(p);
    const joins = (c === SPACE || c === HYPHEN) && (sep === -1 || sep === c) && isDigit(text.charCodeAt(p + 1));
    if (!joins) break;
    sep = c;
    p++;
  }
  return best;
}
