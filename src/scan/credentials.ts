import { lowerForScan } from './lower.js';
import type { Finding } from './types.js';

// Secrets known by where they stand rather than by their shape: the value of a credential-
// named key or variable (when it looks random enough), passwords in URLs, Azure storage keys
// and SAS signatures, Slack webhook URLs.

// The last word of a credential name, then an assignment: found in one pass over the
// lower-cased text; the whole name is then read backwards and judged by CREDENTIAL_NAME.
const ASSIGNMENT = /(?:key|secret|token|passw(?:or)?d|pwd|passphrase|credentials?)["']?\s{0,3}(?::=|=>|:|=)\s{0,3}["'`]?/g;
const CREDENTIAL_NAME =
  /(?:^|[^a-z0-9])(?:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret|secret|access[_-]?token|auth[_-]?token|refresh[_-]?token|session[_-]?token|token|passw(?:or)?d|pwd|passphrase|private[_-]?key|access[_-]?key|credentials?|aws_secret_access_key)$/;
const MAX_NAME = 64;
const PASSWORD_KEY = /passw|pwd|passphrase/;
const AWS_SECRET_KEY = /aws_?secret|secret_?access_?key/;
const MAX_VALUE = 256;
const PLACEHOLDER = /your|example|sample|xxx|\*\*\*|changeme|placeholder|redacted|dummy|\.\.\.|^<|^\$|^\{|process\.env|os\.environ|getenv|env\(|^none$|^null$|^true$|^false$|^undefined$/i;

function isValueChar(c: number): boolean {
  // Printable ASCII except quotes, whitespace, and the punctuation that ends a value in code and configs.
  return c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x27 && c !== 0x60 && c !== 0x2c && c !== 0x3b && c !== 0x7d && c !== 0x29 && c !== 0x5d && c !== 0x3c && c !== 0x3e;
}

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

function classes(s: string): number {
  return [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter((re) => re.test(s)).length;
}

/** The finding for a value standing under credential-named key `key` (lower case), if it looks like a secret. */
export function credentialValue(key: string, value: string, start: number): Finding | undefined {
  if (value.length < 8 || value.length > MAX_VALUE || PLACEHOLDER.test(value)) return undefined;
  if (AWS_SECRET_KEY.test(key) && /^[A-Za-z0-9/+]{40}$/.test(value)) {
    return { class: 'secret', type: 'AWS_SECRET_KEY', start, end: start + value.length, score: 0.95, rule: 'secret.aws-secret-key' };
  }
  if (PASSWORD_KEY.test(key)) {
    if (classes(value) < 3 && entropy(value) < 3.2) return undefined;
    return { class: 'secret', type: 'GENERIC_SECRET', start, end: start + value.length, score: 0.7, rule: 'secret.password-assignment' };
  }
  if (value.length < 16 || entropy(value) < 3.5 || !/\d/.test(value) || !/[A-Za-z]/.test(value)) return undefined;
  return { class: 'secret', type: 'GENERIC_SECRET', start, end: start + value.length, score: 0.75, rule: 'secret.credential-assignment' };
}

/** The object keys whose string values are judged by credentialValue. */
export function isCredentialKey(key: string): boolean {
  return key.length <= MAX_NAME && CREDENTIAL_NAME.test(key.toLowerCase());
}

function isNameChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2d || c === 0x2e;
}

/** Values already reported by a format rule (same start) are left to that rule. */
export function scanCredentialAssignments(text: string, out: Finding[]): void {
  const lower = lowerForScan(text);
  const known = new Set(out.map((f) => f.start));
  ASSIGNMENT.lastIndex = 0;
  for (let m = ASSIGNMENT.exec(lower); m !== null; m = ASSIGNMENT.exec(lower)) {
    const wordEnd = m.index + m[0].search(/["'\s:=]/);
    let nameStart = m.index;
    while (nameStart > 0 && m.index - nameStart < MAX_NAME && isNameChar(lower.charCodeAt(nameStart - 1))) nameStart--;
    const name = lower.slice(nameStart, wordEnd);
    if (!CREDENTIAL_NAME.test(name)) continue;
    const start = ASSIGNMENT.lastIndex;
    let end = start;
    while (end - start < MAX_VALUE + 1 && isValueChar(text.charCodeAt(end))) end++;
    const f = known.has(start) ? undefined : credentialValue(name, text.slice(start, end), start);
    if (f !== undefined) {
      out.push(f);
      ASSIGNMENT.lastIndex = end;
    }
  }
}

// scheme://user:password@host — the password is the secret.
const URL_USERINFO = /:\/\/[^\s/:@"'<>]{1,64}:([^\s/@"'<>]{3,128})@/g;

export function scanUrlCredentials(text: string, out: Finding[]): void {
  if (text.indexOf('://') === -1) return; // indexOf is far cheaper than a regex pass
  URL_USERINFO.lastIndex = 0;
  for (let m = URL_USERINFO.exec(text); m !== null; m = URL_USERINFO.exec(text)) {
    const password = m[1] ?? '';
    if (PLACEHOLDER.test(password) || /^(?:pass(?:word)?|secret|pwd)$/i.test(password)) continue;
    const end = m.index + m[0].length - 1;
    out.push({ class: 'secret', type: 'URL_CREDENTIALS', start: end - password.length, end, score: 0.9, rule: 'secret.url-password' });
  }
}

const AZURE_ACCOUNT_KEY = /AccountKey=([A-Za-z0-9+/]{86}==)/g;
const AZURE_SAS_SIG = /[?&]sig=([A-Za-z0-9%+/=]{40,128})/g;
const SLACK_WEBHOOK = /https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/[A-Za-z0-9]{20,32}/g;
const AZURE_CLIENT_SECRET_MARK = 'Q~';

// Each pass is skipped when a literal every match contains is absent. The literals are
// chosen to start with a rare character: indexOf tests each occurrence of the first one.
export function scanCloudFormats(text: string, out: Finding[]): void {
  AZURE_ACCOUNT_KEY.lastIndex = text.indexOf('Key=') === -1 ? text.length : 0;
  for (let m = AZURE_ACCOUNT_KEY.exec(text); m !== null; m = AZURE_ACCOUNT_KEY.exec(text)) {
    const start = m.index + 'AccountKey='.length;
    out.push({ class: 'secret', type: 'AZURE_STORAGE_KEY', start, end: start + (m[1]?.length ?? 0), score: 0.95, rule: 'secret.azure-storage-key' });
  }
  AZURE_SAS_SIG.lastIndex = text.indexOf('?sig=') === -1 && text.indexOf('&sig=') === -1 ? text.length : 0;
  for (let m = AZURE_SAS_SIG.exec(text); m !== null; m = AZURE_SAS_SIG.exec(text)) {
    // A SAS URL also carries the signed version (sv=) in the same query.
    const query = text.slice(text.lastIndexOf('?', m.index + 1), m.index + m[0].length + 512);
    if (!/[?&]sv=\d{4}-\d{2}-\d{2}/.test(query)) continue;
    const start = m.index + 5;
    out.push({ class: 'secret', type: 'AZURE_SAS_TOKEN', start, end: start + (m[1]?.length ?? 0), score: 0.9, rule: 'secret.azure-sas' });
  }
  SLACK_WEBHOOK.lastIndex = text.indexOf('://hooks.slack.com/') === -1 ? text.length : 0;
  for (let m = SLACK_WEBHOOK.exec(text); m !== null; m = SLACK_WEBHOOK.exec(text)) {
    out.push({ class: 'secret', type: 'SLACK_WEBHOOK', start: m.index, end: m.index + m[0].length, score: 0.95, rule: 'secret.slack-webhook' });
  }
  // Azure AD client secrets: three characters, a digit, "Q~", then 31-34 more.
  for (let q = text.indexOf(AZURE_CLIENT_SECRET_MARK); q !== -1; q = text.indexOf(AZURE_CLIENT_SECRET_MARK, q + 2)) {
    const start = q - 4;
    if (start < 0 || !/^[A-Za-z0-9_~.-]{3}\d$/.test(text.slice(start, q)) || isSecretChar(text.charCodeAt(start - 1))) continue;
    let end = q + 2;
    while (end - q - 2 < 35 && isSecretChar(text.charCodeAt(end))) end++;
    const tail = end - q - 2;
    if (tail < 31 || tail > 34 || isSecretChar(text.charCodeAt(end))) continue;
    out.push({ class: 'secret', type: 'AZURE_CLIENT_SECRET', start, end, score: 0.9, rule: 'secret.azure-client-secret' });
  }
}

function isSecretChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x7e || c === 0x2e || c === 0x2d;
}
