import { hasDigit, isTokenChar } from './chars.js';
import type { Detector, Finding } from './types.js';

interface TokenRule {
  readonly type: string;
  readonly rule: string;
  readonly score: number;
  /** Every match starts with one of these: a cheap test before the regex runs. */
  readonly prefixes: readonly string[];
  /** Sticky; must cover a whole token (a maximal run of `[A-Za-z0-9_-]`). */
  readonly re: RegExp;
  /** Generic prefixes also start ordinary words ("sk-learn-…"); random keys carry digits. */
  readonly needsDigit?: boolean;
}

const TOKEN_RULES: readonly TokenRule[] = [
  { type: 'ANTHROPIC_API_KEY', rule: 'secret.anthropic', score: 0.95, prefixes: ['sk-ant-'], re: /sk-ant-[A-Za-z0-9_-]{20,}/y },
  { type: 'OPENAI_API_KEY', rule: 'secret.openai', score: 0.9, prefixes: ['sk-'], re: /sk-(?!ant-)[A-Za-z0-9_-]{20,}/y, needsDigit: true },
  { type: 'AWS_ACCESS_KEY', rule: 'secret.aws-access-key', score: 0.95, prefixes: ['AKIA', 'ASIA'], re: /(?:AKIA|ASIA)[A-Z0-9]{16}/y },
  { type: 'GITHUB_TOKEN', rule: 'secret.github-token', score: 0.95, prefixes: ['gh'], re: /gh[pousr]_[A-Za-z0-9]{36}/y },
  { type: 'GITHUB_TOKEN', rule: 'secret.github-pat', score: 0.95, prefixes: ['github_pat_'], re: /github_pat_[A-Za-z0-9_]{82}/y },
  { type: 'SLACK_TOKEN', rule: 'secret.slack', score: 0.95, prefixes: ['xox'], re: /xox[abprs]-[A-Za-z0-9-]{10,}/y },
  { type: 'STRIPE_KEY', rule: 'secret.stripe', score: 0.95, prefixes: ['sk_live_', 'rk_live_', 'sk_test_'], re: /(?:sk_live_|rk_live_|sk_test_)[A-Za-z0-9]{24,}/y },
  { type: 'GOOGLE_API_KEY', rule: 'secret.google-api-key', score: 0.95, prefixes: ['AIza'], re: /AIza[A-Za-z0-9_-]{35}/y },
];

const JWT_PREFIX = 'eyJ'; // base64url of '{"'
const JWT_MIN_SEGMENT = 10;
/** The shortest token any rule can match: a JWT header segment (key formats are all longer). */
const MIN_TOKEN = JWT_MIN_SEGMENT;
const BEARER_MIN = 20;
const DOT = 0x2e;
const EQUALS = 0x3d;
const PEM_BEGIN = /-----BEGIN ((?:[A-Z0-9]{1,20} ){0,3})PRIVATE KEY-----/y;
const PEM_END = /-----END ((?:[A-Z0-9]{1,20} ){0,3})PRIVATE KEY-----/y;
// The `[ \t]+` run is consumed once per keyword; the token after it is walked by hand.
const BEARER = /\bbearer[ \t]+/gi;

/**
 * API keys by their documented formats, JWTs, bearer tokens and PEM private-key blocks.
 * A key must be a whole token: not preceded or followed by a token character.
 */
export const secretDetector: Detector = {
  class: 'secret',
  scan(text: string): Finding[] {
    const out: Finding[] = [];
    scanTokens(text, out);
    scanBearer(text, out);
    scanPrivateKeys(text, out);
    return out;
  },
};

function tokenEnd(text: string, from: number): number {
  let p = from;
  while (isTokenChar(text.charCodeAt(p))) p++;
  return p;
}

/** One pass over maximal token runs; each run is tried against the rules anchored at its start. */
function scanTokens(text: string, out: Finding[]): void {
  let i = 0;
  while (i < text.length) {
    if (!isTokenChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const end = tokenEnd(text, i);
    if (end - i < MIN_TOKEN) {
      i = end; // ordinary words: shorter than any key format or JWT header
      continue;
    }
    const jwt = jwtEnd(text, i, end);
    if (jwt !== undefined) {
      out.push({ class: 'secret', type: 'JWT', start: i, end: jwt, score: 0.9, rule: 'secret.jwt' });
      i = jwt;
      continue;
    }
    const rule = TOKEN_RULES.find((r) => wholeTokenMatch(r, text, i, end));
    if (rule !== undefined) {
      out.push({ class: 'secret', type: rule.type, start: i, end, score: rule.score, rule: rule.rule });
    }
    i = end;
  }
}

function wholeTokenMatch(r: TokenRule, text: string, start: number, end: number): boolean {
  if (!r.prefixes.some((p) => text.startsWith(p, start))) return false;
  r.re.lastIndex = start;
  return r.re.test(text) && r.re.lastIndex === end && (!r.needsDigit || hasDigit(text, start, end));
}

/** header.payload.signature, each a base64url run of 10+ chars; the header starts with eyJ. */
function jwtEnd(text: string, start: number, headerEnd: number): number | undefined {
  if (!text.startsWith(JWT_PREFIX, start) || headerEnd - start < JWT_MIN_SEGMENT) return undefined;
  let p = headerEnd;
  for (let segment = 0; segment < 2; segment++) {
    if (text.charCodeAt(p) !== DOT) return undefined;
    const end = tokenEnd(text, p + 1);
    if (end - (p + 1) < JWT_MIN_SEGMENT) return undefined;
    p = end;
  }
  return p;
}

/** token68 (RFC 7235) characters before the padding: base64url, base64 and JWT dots. */
function isBearerChar(c: number): boolean {
  return isTokenChar(c) || c === DOT || c === 0x7e || c === 0x2b || c === 0x2f;
}

function scanBearer(text: string, out: Finding[]): void {
  BEARER.lastIndex = 0;
  for (let m = BEARER.exec(text); m !== null; m = BEARER.exec(text)) {
    const start = BEARER.lastIndex;
    let end = start;
    while (isBearerChar(text.charCodeAt(end)) || text.charCodeAt(end) === EQUALS) end++;
    while (end > start && text.charCodeAt(end - 1) === DOT) end--; // a sentence's full stop
    if (end - start >= BEARER_MIN && isToken68(text, start, end) && hasDigit(text, start, end)) {
      out.push({ class: 'secret', type: 'BEARER_TOKEN', start, end, score: 0.8, rule: 'secret.bearer' });
      BEARER.lastIndex = end;
    }
  }
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
