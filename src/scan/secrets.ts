import { hasDigit, isTokenChar } from './chars.js';
import { scanCloudFormats, scanCredentialAssignments, scanUrlCredentials } from './credentials.js';
import { scanKeyFormats } from './key-formats.js';
import { lowerForScan } from './lower.js';
import type { Detector, Finding } from './types.js';
import { AnchoredScanner } from './anchored.js';

const BEARER_MIN = 20;
const DOT = 0x2e;
const EQUALS = 0x3d;
const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]{1,20} ){0,3})PRIVATE KEY-----/y;
const PEM_END = /-----END ((?:[A-Z0-9]{1,20} ){0,3})PRIVATE KEY-----/y;
// The `[ \t]+` run is consumed once per keyword; the token after it is walked by hand.
const BEARER = /\bbearer[ \t]+/g; // run on the lower-cased text
const BEARER_AT = /bearer[ \t]+/y;

/**
 * API keys by their documented formats, JWTs, bearer tokens, PEM private-key blocks, cloud
 * connection-string keys, URL passwords, and random-looking values of credential-named keys.
 */
export const secretDetector: Detector = {
  class: 'secret',
  scan(text: string): Finding[] {
    return secretFindings(text, undefined, undefined);
  },
};

/**
 * Every secret in `text`. `keyFormats` and `bearer` are its API-key-format and bearer-token
 * findings when a shared word pass found them already; else they are looked for here.
 */
export function secretFindings(text: string, keyFormats: readonly Finding[] | undefined, bearer: readonly Finding[] | undefined): Finding[] {
  const out: Finding[] = [];
  if (keyFormats === undefined) scanKeyFormats(text, out);
  else for (const f of keyFormats) out.push(f);
  if (bearer === undefined) scanBearer(text, out);
  else for (const f of bearer) out.push(f);
  scanPrivateKeys(text, out);
  scanCloudFormats(text, out);
  scanUrlCredentials(text, out);
  scanCredentialAssignments(text, out);
  return out;
}

/** token68 (RFC 7235) characters before the padding: base64url, base64 and JWT dots. */
function isBearerChar(c: number): boolean {
  return isTokenChar(c) || c === DOT || c === 0x7e || c === 0x2b || c === 0x2f;
}

function scanBearer(text: string, out: Finding[]): void {
  const lower = lowerForScan(text);
  BEARER.lastIndex = lower.indexOf('bearer') === -1 ? lower.length : 0;
  for (let m = BEARER.exec(lower); m !== null; m = BEARER.exec(lower)) {
    const end = bearerTokenAt(text, BEARER.lastIndex, out);
    if (end !== undefined) BEARER.lastIndex = end;
  }
}

/** scanBearer driven by a word pass over the lower-cased text (word-pass.ts). */
export function bearerScanner(text: string, lower: string, out: Finding[]): AnchoredScanner {
  return new AnchoredScanner(BEARER_AT, bearerTokenAt, text, lower, out);
}

/** Reports the token starting at `start` (after "Bearer "), if it is one, and returns its end. */
function bearerTokenAt(text: string, start: number, out: Finding[]): number | undefined {
  let end = start;
  while (isBearerChar(text.charCodeAt(end)) || text.charCodeAt(end) === EQUALS) end++;
  while (end > start && text.charCodeAt(end - 1) === DOT) end--; // a sentence's full stop
  if (end - start < BEARER_MIN || !isToken68(text, start, end) || !hasDigit(text, start, end)) return undefined;
  out.push({ class: 'secret', type: 'BEARER_TOKEN', start, end, score: 0.8, rule: 'secret.bearer' });
  return end;
}

/** Token characters, then only '=' padding. */
function isToken68(text: string, start: number, end: number): boolean {
  let p = start;
  while (p < end && text.charCodeAt(p) !== EQUALS) p++;
  if (p === start) return false;
  while (p < end && text.charCodeAt(p) === EQUALS) p++;
  return p === end;
}

/**
 * Whole PEM private-key blocks, BEGIN to the matching END. The END search only ever moves
 * forward and stops for good when no END is left, so many BEGINs without an END stay linear.
 */
function scanPrivateKeys(text: string, out: Finding[]): void {
  // Every header contains 'KEY-----'. V8's indexOf tests each occurrence of a short needle's
  // first character, so a needle led by a rare one ('Y') costs far less than '-----BEGIN '.
  if (text.indexOf('Y-----') === -1) return;
  let from = 0;
  let nextEnd = -1;
  for (let begin = text.indexOf('-----BEGIN ', from); begin !== -1; begin = text.indexOf('-----BEGIN ', from)) {
    PEM_BEGIN.lastIndex = begin;
    const header = PEM_BEGIN.exec(text);
    if (header === null) {
      from = begin + 1;
      continue;
    }
    const bodyStart = PEM_BEGIN.lastIndex;
    if (nextEnd < bodyStart) {
      nextEnd = text.indexOf('-----END ', bodyStart);
      if (nextEnd === -1) return;
    }
    PEM_END.lastIndex = nextEnd;
    const footer = PEM_END.exec(text);
    if (footer !== null && footer[1] === header[1]) {
      const end = PEM_END.lastIndex;
      out.push({ class: 'secret', type: 'PRIVATE_KEY', start: begin, end, score: 0.99, rule: 'secret.private-key' });
      from = end;
    } else {
      from = bodyStart;
    }
  }
}
