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
  for (let open = lower.indexOf('<!--'); open !== -1; ) {
    const close = lower.indexOf('-->', open + 4);
    const end = close === -1 ? lower.length : close + 3;
    if (hasInstructions(lower.slice(open + 4, close === -1 ? lower.length : close))) {
      out.push(finding('injection.hidden.html-comment', open, end, 0.85));
    }
    if (close === -1) return; // an unclosed comment hides the rest; no later comment can close
    open = lower.indexOf('<!--', end);
  }
}

// A hiding declaration; found by its literal start, then checked to sit inside a tag.
const HIDING =
  /\b(?:display\s{0,3}:\s{0,3}none|visibility\s{0,3}:\s{0,3}hidden|font-size\s{0,3}:\s{0,3}0(?![.\d])|opacity\s{0,3}:\s{0,3}0(?![.\d])|text-indent\s{0,3}:\s{0,3}-\d{3,}|(?:left|top)\s{0,3}:\s{0,3}-\d{4,}|hidden(?=[\s>=/])|aria-hidden\s{0,3}=\s{0,3}["']?true)/g;
const MAX_TAG = 1024;
const MAX_HIDDEN_TEXT = 4096;
const TAG_NAME = /^<([a-z][a-z0-9]{0,15})/;

/**
 * Elements hidden by CSS or the `hidden` attribute, with the text inside them. Scored high
 * when that text carries instructions, low otherwise (hidden menus are everyday HTML).
 */
export function scanCssHidden(lower: string, out: Finding[]): void {
  // Every hiding declaration sits in a style attribute or is a hidden attribute: two indexOf
  // calls (far cheaper than a regex pass) rule out most texts. 'yle' rather than 'style': V8's
  // indexOf tests each occurrence of a short needle's first character, and 'y' is rarer than 's'.
  if (lower.indexOf('yle') === -1 && lower.indexOf('hidden') === -1) return;
  let coveredTo = 0;
  HIDING.lastIndex = 0;
  for (let m = HIDING.exec(lower); m !== null; m = HIDING.exec(lower)) {
    if (m.index < coveredTo) continue;
    // Every search below is confined to MAX_TAG characters around the declaration.
    const from = Math.max(0, m.index - MAX_TAG);
    const before = lower.slice(from, m.index);
    const lt = before.lastIndexOf('<');
    if (lt === -1 || before.lastIndexOf('>') > lt) continue; // not inside a tag
    const open = from + lt;
    const name = TAG_NAME.exec(lower.slice(open, open + 17))?.[1];
    const gt = lower.slice(m.index, open + MAX_TAG).indexOf('>');
    if (name === undefined || gt === -1) continue;
    const tagEnd = m.index + gt;
    const limit = Math.min(lower.length, tagEnd + 1 + MAX_HIDDEN_TEXT);
    const closeAt = lower.slice(tagEnd + 1, limit).indexOf(`</${name}`);
    const innerEnd = closeAt === -1 ? limit : tagEnd + 1 + closeAt;
    const inner = lower.slice(tagEnd + 1, innerEnd).replace(/<[^>]{0,1024}>/g, ' ');
    if (!/[\p{L}\p{N}]/u.test(inner)) continue;
    const end = closeAt === -1 ? innerEnd : Math.min(lower.length, innerEnd + name.length + 3);
    out.push(finding('injection.hidden.css', open, end, hasInstructions(inner) ? 0.85 : 0.4));
    coveredTo = end;
    HIDING.lastIndex = Math.max(HIDING.lastIndex, tagEnd);
  }
}
