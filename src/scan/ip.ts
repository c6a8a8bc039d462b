import type { Finding } from './types.js';

// IP addresses that can point at a person: public unicast only. Private, loopback,
// link-local, shared, multicast and reserved ranges identify infrastructure, not people,
// and fill configuration files and READMEs.

// Digit-led with no look-arounds, so V8 only tries digits; the boundaries are checked after.
const IPV4 = /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/g;
const VERSION_BEFORE = /(?:version|ver\.?|release|build|v)\s{0,2}[:=]?\s{0,2}$/i;

function publicV4(octets: number[]): boolean {
  const [a = 0, b = 0] = octets;
  if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
  if (a === 100 && b >= 64 && b <= 127) return false;
  if (a === 169 && b === 254) return false;
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  return true;
}

export function scanIps(text: string, out: Finding[]): void {
  IPV4.lastIndex = 0;
  for (let m = IPV4.exec(text); m !== null; m = IPV4.exec(text)) {
    if (isWordish(text.charCodeAt(m.index - 1))) {
      IPV4.lastIndex = m.index + 1; // inside a longer word or dotted run: try the next digit
      continue;
    }
    ipv4At(text, m.index, m[0], out);
  }
  scanIpv6(text, out);
}

const IPV4_AT = new RegExp(IPV4.source, 'y');

/**
 * The IPv4 part of scanIps driven by someone else's pass (scanNumbers' candidates, which
 * include every digit an address can start at: one not after a word character or a dot, with
 * seven characters of digits and dots from there). `at` is called in increasing order and does
 * what scanIps does there, skipping the places its own regex would have stepped over.
 */
export class Ipv4Scanner {
  private next = 0;

  constructor(
    private readonly text: string,
    readonly out: Finding[],
  ) {}

  at(p: number): void {
    const text = this.text;
    if (p < this.next || isWordish(text.charCodeAt(p - 1))) return;
    if (!firstOctetAt(text, p)) return; // most number candidates fail here, before the regex
    IPV4_AT.lastIndex = p;
    const m = IPV4_AT.exec(text);
    if (m === null) return;
    this.next = p + m[0].length;
    ipv4At(text, p, m[0], this.out);
  }
}

/** One to three digits from `p`, then a dot. */
function firstOctetAt(text: string, p: number): boolean {
  for (let i = p + 1; i <= p + 3; i++) {
    if (text.charCodeAt(i) === 0x2e) return true;
    if (!isDigitAt(text, i)) return false;
  }
  return false;
}

/** Judges the dotted quad `m` found at `start`, which no word character or dot precedes. */
function ipv4At(text: string, start: number, m: string, out: Finding[]): void {
  const end = start + m.length;
  if (isWordish(text.charCodeAt(end)) && !(text.charCodeAt(end) === 0x2e && !isDigitAt(text, end + 1))) return;
  const parts = m.split('.');
  if (parts.some((p) => p.length > 1 && p.startsWith('0'))) return;
  const octets = parts.map(Number);
  if (octets.some((o) => o > 255) || !publicV4(octets)) return;
  if (VERSION_BEFORE.test(text.slice(Math.max(0, start - 12), start))) return;
  out.push({ class: 'pii', type: 'IP_ADDRESS', start, end, score: 0.6, rule: 'pii.ip.v4' });
}

// IPv6 always has "::" or a hex group between two colons: each ':' (found by indexOf) is tried.
const MAX_V6 = 39;

function isV6Char(c: number): boolean {
  return (c >= 0x30 && c <= 0x3a) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function isDigitAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
}

/** [A-Za-z0-9_.]: what may not touch an address. */
function isWordish(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2e;
}

/** Parses a full or "::"-compressed address into 8 groups, or undefined. */
export function ipv6Groups(s: string): number[] | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === '') return [];
    const groups = h.split(':');
    if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
    return groups.map((g) => parseInt(g, 16));
  };
  const head = parse(halves[0] ?? '');
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

function publicV6(g: number[]): boolean {
  const first = g[0] ?? 0;
  if (first === 0) return false; // ::, ::1, IPv4-mapped and other special forms
  if ((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00) return false;
  return true;
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** A ':' followed by up to four hex digits and another ':'. */
function colonPairAt(text: string, c: number): boolean {
  let p = c + 1;
  while (p - c <= 4 && isHex(text.charCodeAt(p))) p++;
  return text.charCodeAt(p) === 0x3a;
}

export function scanIpv6(text: string, out: Finding[]): void {
  for (let c = text.indexOf(':'); c !== -1; c = text.indexOf(':', c + 1)) {
    if (!colonPairAt(text, c)) continue;
    let s = c;
    while (s > 0 && c - s < MAX_V6 && isV6Char(text.charCodeAt(s - 1))) s--;
    let e = c;
    while (e < text.length && e - s < MAX_V6 + 1 && isV6Char(text.charCodeAt(e))) e++;
    c = Math.max(c, e - 1);
    if (isWordish(text.charCodeAt(s - 1)) || isWordish(text.charCodeAt(e)) || text.charCodeAt(s - 1) === 0x3a) continue;
    const candidate = text.slice(s, e);
    const groups = ipv6Groups(candidate);
    if (groups === undefined || !publicV6(groups)) continue;
    out.push({ class: 'pii', type: 'IP_ADDRESS', start: s, end: e, score: 0.6, rule: 'pii.ip.v6' });
  }
}
