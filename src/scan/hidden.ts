import { scanPhrases } from './phrases.js';
import type { PhraseMatch } from './phrases.js';
import type { Finding } from './types.js';

// Content a person reading the rendered text cannot see but a model reads: invisible
// characters, HTML comments and CSS-hidden elements. All three are found by one cheap pass
// each (a character-class regex, indexOf, a literal-led regex) and examined locally.

const INVISIBLE = /[\u200b-\u200d\u2060-\u2064\ufeff\u180e\u202d\u202e\u2066-\u2069]+|(?:\udb40[\udc00-\udc7f])+/g;
const TAG_BLACK_FLAG = '\ud83c\udff4'; // U+1F3F4, which tag sequences legitimately follow in subdivision flags
const CANCEL_TAG = '\udb40\udc7f';
const MAX_FLAG_TAGS = 7;

function finding(rule: string, start: number, end: number, score: number): Finding {
  return { class: 'injection', type: 'HIDDEN_CONTENT', start, end, score, rule };
}

function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** Whether `lower` (lower-cased) carries injection phrasing or addresses the AI directly. */
export function hasInstructions(lower: string): boolean {
  const phrases: PhraseMatch[] = [];
  scanPhrases(lower, phrases);
  return phrases.some((p) => p.score >= 0.5) || AI_DIRECTED.test(lower);
}

const AI_DIRECTED =
  /\b(?:ai|assistant|agent|llm|chatbot|language model|claude|gpt|copilot|model)\b[^.!?\n]{0,80}?\b(?:must|should|shall|always|never|ignore|instead|do not|don't|need to|are required)\b|\b(?:if you are|as an?|you are an?) (?:ai|assistant|agent|llm|language model)\b/;

export function scanInvisible(text: string, out: Finding[]): void {
  INVISIBLE.lastIndex = 0;
  for (let m = INVISIBLE.exec(text); m !== null; m = INVISIBLE.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    const run = m[0];
    if (run.charCodeAt(0) === 0xdb40) {
      // Unicode tag characters spell ASCII invisibly; a short run after U+1F3F4 ending in CANCEL TAG is a flag emoji.
      const isFlag = text.startsWith(TAG_BLACK_FLAG, start - 2) && run.endsWith(CANCEL_TAG) && run.length / 2 <= MAX_FLAG_TAGS;
      if (isFlag) continue;
      let decoded = '';
      for (let i = 1; i < run.length; i += 2) decoded += String.fromCharCode(run.charCodeAt(i) - 0xdc00);
      out.push(finding('injection.hidden.unicode-tags', start, end, hasInstructions(decoded.toLowerCase()) ? 0.99 : 0.9));
      continue;
    }
    if (/[\u202d\u202e\u2066-\u2069]/.test(run)) {
      out.push(finding('injection.hidden.bidi-override', start, end, 0.55));
    } else if (run.length >= 3) {
      out.push(finding('injection.hidden.zero-width-run', start, end, 0.85));
    } else if (isAsciiLetter(text.charCodeAt(start - 1)) && isAsciiLetter(text.charCodeAt(end)) && !/[\u200c\u200d]/.test(run)) {
      // Inside an ASCII word a zero-width space only splits it past filters ("ig\u200bnore").
      out.push(finding('injection.hidden.zero-width-in-word', start, end, 0.6));
    }
    // Otherwise: a BOM, or a joiner between emoji or in Indic and Persian script.
  }
}

/** HTML comments that carry instructions. Comments are disjoint, so the inner scans add up to the text length. */
export function scanHtmlComments(lower: string, out: Finding[]): void {
  for (let open = commentOpen(lower, 0); open !== -1; ) {
    const close = lower.indexOf('-->', open + 4);
    const end = close === -1 ? lower.length : close + 3;
    if (hasInstructions(lower.slice(open + 4, close === -1 ? lower.length : close))) {
      out.push(finding('injection.hidden.html-comment', open, end, 0.85));
    }
    if (close === -1) return; // an unclosed comment hides the rest; no later comment can close
    open = commentOpen(lower, end);
  }
}

/** lower.indexOf('<!--', from), by the rare '!' rather than '<' (common in HTML), which V8's indexOf steps through. */
function commentOpen(lower: string, from: number): number {
  for (let bang = lower.indexOf('!--', from + 1); bang !== -1; bang = lower.indexOf('!--', bang + 1)) {
    if (lower.charCodeAt(bang - 1) === 0x3c) return bang - 1;
  }
  return -1;
}

// A hiding declaration; found by its literal start, then checked to sit inside a tag.
const HIDING_SOURCE = String.raw`(?:display\s{0,3}:\s{0,3}none|visibility\s{0,3}:\s{0,3}hidden|font-size\s{0,3}:\s{0,3}0(?![.\d])|opacity\s{0,3}:\s{0,3}0(?![.\d])|text-indent\s{0,3}:\s{0,3}-\d{3,}|(?:left|top)\s{0,3}:\s{0,3}-\d{4,}|hidden(?=[\s>=/])|aria-hidden\s{0,3}=\s{0,3}["']?true)`;
const HIDING = new RegExp(String.raw`\b${HIDING_SOURCE}`, 'g');
const HIDING_AT = new RegExp(HIDING_SOURCE, 'y');
/** Every hiding declaration starts a word with one of these. */
export const HIDING_WORDS: readonly string[] = ['display', 'visibility', 'font-size', 'opacity', 'text-indent', 'left', 'top', 'hidden', 'aria-hidden'];
const MAX_TAG = 1024;
const MAX_HIDDEN_TEXT = 4096;
const TAG_NAME = /^<([a-z][a-z0-9]{0,15})/;

/**
 * Every hiding declaration sits in a style attribute or is a hidden attribute: texts with
 * neither are not looked at. 'yle' rather than 'style': V8's indexOf tests each occurrence of
 * a short needle's first character, and 'y' is rarer than 's'.
 */
function mayHide(lower: string): boolean {
  return lower.indexOf('yle') !== -1 || lower.indexOf('hidden') !== -1;
}

/**
 * Elements hidden by CSS or the `hidden` attribute, with the text inside them. Scored high
 * when that text carries instructions, low otherwise (hidden menus are everyday HTML).
 */
export function scanCssHidden(lower: string, out: Finding[]): void {
  if (!mayHide(lower)) return;
  const s = new CssHiddenScanner(lower, out);
  HIDING.lastIndex = 0;
  for (let m = HIDING.exec(lower); m !== null; m = HIDING.exec(lower)) {
    const tagEnd = s.declarationAt(m.index);
    if (tagEnd !== undefined) HIDING.lastIndex = Math.max(HIDING.lastIndex, tagEnd);
  }
}

/**
 * scanCssHidden driven by someone else's pass (word-pass.ts): `at` is called with word starts
 * in increasing order, a superset of where a declaration starts, and does what scanCssHidden
 * does there, into `found`.
 */
export class CssHiddenScanner {
  private next = 0;
  private coveredTo = 0;
  /** mayHide, asked at the first declaration. */
  private hides: boolean | undefined;

  constructor(
    private readonly lower: string,
    readonly found: Finding[],
  ) {}

  at(p: number): void {
    if (p < this.next) return;
    HIDING_AT.lastIndex = p;
    if (!HIDING_AT.test(this.lower)) return;
    this.next = HIDING_AT.lastIndex;
    if (!(this.hides ??= mayHide(this.lower))) return;
    const tagEnd = this.declarationAt(p);
    if (tagEnd !== undefined) this.next = Math.max(this.next, tagEnd);
  }

  /** Judges the declaration at `at`; returns the end of its tag when it is reported. */
  declarationAt(at: number): number | undefined {
    const lower = this.lower;
    if (at < this.coveredTo) return undefined;
    // Every search below is confined to MAX_TAG characters around the declaration.
    const from = Math.max(0, at - MAX_TAG);
    const before = lower.slice(from, at);
    const lt = before.lastIndexOf('<');
    if (lt === -1 || before.lastIndexOf('>') > lt) return undefined; // not inside a tag
    const open = from + lt;
    const name = TAG_NAME.exec(lower.slice(open, open + 17))?.[1];
    const gt = lower.slice(at, open + MAX_TAG).indexOf('>');
    if (name === undefined || gt === -1) return undefined;
    const tagEnd = at + gt;
    const limit = Math.min(lower.length, tagEnd + 1 + MAX_HIDDEN_TEXT);
    const closeAt = lower.slice(tagEnd + 1, limit).indexOf(`</${name}`);
    const innerEnd = closeAt === -1 ? limit : tagEnd + 1 + closeAt;
    const inner = lower.slice(tagEnd + 1, innerEnd).replace(/<[^>]{0,1024}>/g, ' ');
    if (!/[\p{L}\p{N}]/u.test(inner)) return undefined;
    const elementEnd = closeAt === -1 ? innerEnd : Math.min(lower.length, innerEnd + name.length + 3);
    this.found.push(finding('injection.hidden.css', open, elementEnd, hasInstructions(inner) ? 0.85 : 0.4));
    this.coveredTo = elementEnd;
    return tagEnd;
  }
}
