import { isAsciiAlnum, isAsciiLetter, isWordChar } from './chars.js';
import type { Finding } from './types.js';

const LOCAL_MAX = 64; // RFC 5321 limits
const DOMAIN_MAX = 253;
const LABEL_MAX = 63;
const DOT = 0x2e;
const HYPHEN = 0x2d;

/** `[A-Za-z0-9._%+-]`: the local-part characters seen in real addresses. */
function isLocalChar(c: number): boolean {
  return isWordChar(c) || c === DOT || c === 0x25 || c === 0x2b || c === HYPHEN;
}

function isLabelChar(c: number): boolean {
  return isAsciiAlnum(c) || c === HYPHEN;
}

/**
 * Email addresses. Each '@' is a pivot: the local part is read leftwards and the domain
 * rightwards, both bounded by the RFC lengths and by the neighbouring '@'s (neither part
 * may contain one), so the total work is linear however the '@'s are laid out.
 */
export function scanEmails(text: string, out: Finding[]): void {
  let at = text.indexOf('@');
  while (at !== -1) {
    const span = emailAround(text, at);
    if (span !== undefined) {
      out.push({ class: 'pii', type: 'EMAIL', start: span[0], end: span[1], score: 0.9, rule: 'pii.email' });
      at = text.indexOf('@', span[1]);
    } else {
      at = text.indexOf('@', at + 1);
    }
  }
}

function emailAround(text: string, at: number): [number, number] | undefined {
  const start = localPartStart(text, at);
  if (start === undefined || inUrlAuthority(text, start)) return undefined;
  const end = domainEnd(text, at + 1);
  if (end === undefined || isWordChar(text.charCodeAt(end))) return undefined;
  return [start, end];
}

const MAX_USERINFO = 256;

/** "scheme://user:password@host": the '@' ends URL credentials, which the secret detector owns. */
function inUrlAuthority(text: string, start: number): boolean {
  for (let i = start - 1; i >= 2 && start - i <= MAX_USERINFO; i--) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x22 || c === 0x27 || c === 0x3c || c === 0x2f) return c === 0x2f && text.startsWith('://', i - 2);
  }
  return false;
}

function localPartStart(text: string, at: number): number | undefined {
  let s = at;
  while (s > 0 && at - s <= LOCAL_MAX && isLocalChar(text.charCodeAt(s - 1))) s--;
  // A local-character run longer than the limit is some other token (a hash, a blob), not an address.
  if (at - s > LOCAL_MAX) return undefined;
  // Leading punctuation ("...bob@", "--bob@") belongs to the surrounding text.
  while (s < at && !isWordChar(text.charCodeAt(s))) s++;
  if (s === at || text.charCodeAt(at - 1) === DOT) return undefined;
  for (let i = s + 1; i < at; i++) {
    if (text.charCodeAt(i) === DOT && text.charCodeAt(i - 1) === DOT) return undefined;
  }
  return s;
}

/** End of a domain of two or more labels with an alphabetic TLD starting at `from`, if any. */
function domainEnd(text: string, from: number): number | undefined {
  const limit = from + DOMAIN_MAX;
  let p = from;
  let labels = 0;
  let lastLabel = from;
  for (;;) {
    const labelStart = p;
    while (p < limit && isLabelChar(text.charCodeAt(p))) p++;
    const len = p - labelStart;
    if (len === 0 || len > LABEL_MAX) return undefined;
    if (text.charCodeAt(labelStart) === HYPHEN || text.charCodeAt(p - 1) === HYPHEN) return undefined;
    labels++;
    lastLabel = labelStart;
    // A dot continues the domain only when another label follows; otherwise it ends the sentence.
    if (p < limit && text.charCodeAt(p) === DOT && isAsciiAlnum(text.charCodeAt(p + 1))) {
      p++;
      continue;
    }
    break;
  }
  if (p >= limit && (isLabelChar(text.charCodeAt(p)) || text.charCodeAt(p) === DOT)) return undefined;
  if (labels < 2 || p - lastLabel < 2) return undefined;
  for (let i = lastLabel; i < p; i++) if (!isAsciiLetter(text.charCodeAt(i))) return undefined;
  return p;
}
