import { AnchoredScanner } from './anchored.js';
import { hasDigit, isTokenChar } from './chars.js';
import { literalsSource } from './literals.js';
import type { Finding } from './types.js';

interface TokenRule {
  readonly type: string;
  readonly rule: string;
  readonly score: number;
  /** Every match starts with one of these. */
  readonly prefixes: readonly string[];
  /** Sticky; must cover a whole token (a maximal run of `[A-Za-z0-9_-]`). */
  readonly re: RegExp;
  /** Generic prefixes also start ordinary words ("sk-learn-…"); random keys carry digits. */
  readonly needsDigit?: boolean;
}

// Provider key formats as documented by each provider (cloud, VCS, chat, payment, model providers).
const TOKEN_RULES: readonly TokenRule[] = [
  { type: 'ANTHROPIC_API_KEY', rule: 'secret.anthropic', score: 0.95, prefixes: ['sk-ant-'], re: /sk-ant-[A-Za-z0-9_-]{20,}/y },
  { type: 'OPENAI_API_KEY', rule: 'secret.openai', score: 0.9, prefixes: ['sk-'], re: /sk-(?!ant-)[A-Za-z0-9_-]{20,}/y, needsDigit: true },
  { type: 'AWS_ACCESS_KEY', rule: 'secret.aws-access-key', score: 0.95, prefixes: ['AKIA', 'ASIA'], re: /(?:AKIA|ASIA)[A-Z0-9]{16}/y },
  { type: 'GITHUB_TOKEN', rule: 'secret.github-token', score: 0.95, prefixes: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'], re: /gh[pousr]_[A-Za-z0-9]{36}/y },
  { type: 'GITHUB_TOKEN', rule: 'secret.github-pat', score: 0.95, prefixes: ['github_pat_'], re: /github_pat_[A-Za-z0-9_]{82}/y },
  { type: 'GITLAB_TOKEN', rule: 'secret.gitlab', score: 0.95, prefixes: ['glpat-', 'gldt-', 'glrt-', 'glptt-', 'glsoat-'], re: /gl(?:pat|dt|rt|ptt|soat)-[A-Za-z0-9_-]{20,}/y },
  { type: 'SLACK_TOKEN', rule: 'secret.slack', score: 0.95, prefixes: ['xoxa-', 'xoxb-', 'xoxp-', 'xoxr-', 'xoxs-', 'xoxe-', 'xapp-'], re: /(?:xox[abprse]|xapp)-[A-Za-z0-9-]{10,}/y },
  { type: 'STRIPE_KEY', rule: 'secret.stripe', score: 0.95, prefixes: ['sk_live_', 'rk_live_', 'sk_test_', 'rk_test_', 'whsec_'], re: /(?:[sr]k_live_|[sr]k_test_|whsec_)[A-Za-z0-9]{24,}/y },
  { type: 'GOOGLE_API_KEY', rule: 'secret.google-api-key', score: 0.95, prefixes: ['AIza'], re: /AIza[A-Za-z0-9_-]{35}/y },
  { type: 'GCP_OAUTH_SECRET', rule: 'secret.gcp-oauth-client-secret', score: 0.95, prefixes: ['GOCSPX-'], re: /GOCSPX-[A-Za-z0-9_-]{28}/y },
  { type: 'HUGGINGFACE_TOKEN', rule: 'secret.huggingface', score: 0.9, prefixes: ['hf_'], re: /hf_[A-Za-z]{34}/y },
  { type: 'NPM_TOKEN', rule: 'secret.npm', score: 0.95, prefixes: ['npm_'], re: /npm_[A-Za-z0-9]{36}/y, needsDigit: true },
  { type: 'PYPI_TOKEN', rule: 'secret.pypi', score: 0.95, prefixes: ['pypi-AgEIcHlwaS5vcmc'], re: /pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}/y },
];

/** Formats whose tokens contain dots, so the token-run end does not bound them. */
const DOTTED: readonly (readonly [RegExp, string, string])[] = [
  [/ya29\.[A-Za-z0-9_-]{30,}/y, 'GCP_ACCESS_TOKEN', 'secret.gcp-access-token'],
  [/SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}/y, 'SENDGRID_KEY', 'secret.sendgrid'],
];

const JWT_PREFIX = 'eyJ'; // base64url of '{"'
const JWT_MIN_SEGMENT = 10;
const DOT = 0x2e;

/** Every match of a rule above starts with one of these (case-sensitive). */
export const KEY_PREFIXES: readonly string[] = [...TOKEN_RULES.flatMap((r) => r.prefixes), JWT_PREFIX, 'ya29.', 'SG.'];
// \b first: V8 then only tries word starts.
const PREFIXES = new RegExp(`\\b${literalsSource(KEY_PREFIXES)}`, 'g');
const PREFIX_AT = new RegExp(literalsSource(KEY_PREFIXES), 'y');

export function tokenEnd(text: string, from: number): number {
  let p = from;
  while (isTokenChar(text.charCodeAt(p))) p++;
  return p;
}

/** API keys by their documented formats and JWTs; a key must be a whole token. */
export function scanKeyFormats(text: string, out: Finding[]): void {
  PREFIXES.lastIndex = 0;
  for (let m = PREFIXES.exec(text); m !== null; m = PREFIXES.exec(text)) {
    const next = keyAt(text, m.index, out);
    if (next !== undefined) PREFIXES.lastIndex = next;
  }
}

/** scanKeyFormats driven by a word pass (word-pass.ts): prefixes are matched on the text itself. */
export function keyFormatScanner(text: string, out: Finding[]): AnchoredScanner {
  return new AnchoredScanner(PREFIX_AT, (t, _end, found, start) => keyAt(t, start, found), text, text, out);
}

/** Reports the key starting at prefix `i`, if any, and returns its end, where the search resumes. */
function keyAt(text: string, i: number, out: Finding[]): number | undefined {
  if (isTokenChar(text.charCodeAt(i - 1))) return undefined;
  const found = tokenAt(text, i, tokenEnd(text, i));
  if (found === undefined) return undefined;
  out.push(found);
  return found.end;
}

function tokenAt(text: string, i: number, end: number): Finding | undefined {
  const jwt = jwtEnd(text, i, end);
  if (jwt !== undefined) return { class: 'secret', type: 'JWT', start: i, end: jwt, score: 0.9, rule: 'secret.jwt' };
  for (const [re, type, rule] of DOTTED) {
    re.lastIndex = i;
    if (re.test(text) && !isTokenChar(text.charCodeAt(re.lastIndex)) && text.charCodeAt(re.lastIndex) !== DOT) {
      return { class: 'secret', type, start: i, end: re.lastIndex, score: 0.95, rule };
    }
  }
  const r = TOKEN_RULES.find((rule) => wholeTokenMatch(rule, text, i, end));
  return r === undefined ? undefined : { class: 'secret', type: r.type, start: i, end, score: r.score, rule: r.rule };
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
