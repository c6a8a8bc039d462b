import { Buffer } from 'node:buffer';
import { hasInstructions } from './hidden.js';
import { literalsSource } from './literals.js';
import type { Finding } from './types.js';

// Instructions smuggled as base64 or hex. Rather than decode every blob (slow, and most
// blobs are hashes, ids and images), we look for the encodings of a few words every
// injection uses: base64 at each of the three byte alignments, hex as is. A hit is widened
// to its whole blob, which is decoded and scanned for injection phrasing.

// Few words, so that the anchor pass stays cheap: every injection we know of uses one of them.
const WORDS = ['ignore', 'disregard', 'instruction', 'you are now'];
const variants = (w: string): string[] => [w, w[0]!.toUpperCase() + w.slice(1), w.toUpperCase()];
const MAX_BLOB = 1 << 16;

/** The base64 characters of `word` that do not depend on its neighbours, at byte offset `k` mod 3. */
function stableBase64(word: string, k: number): string {
  const bytes = Buffer.concat([Buffer.alloc(k, 0x20), Buffer.from(word, 'utf8'), Buffer.alloc(2, 0x20)]);
  const encoded = bytes.toString('base64');
  let out = '';
  for (let j = 0; j < encoded.length; j++) {
    if (6 * j >= 8 * k && 6 * j + 6 <= 8 * (k + Buffer.byteLength(word))) out += encoded[j];
  }
  return out;
}

// Base64 anchors run lower-cased on the lower-cased text (one case-insensitive-free pass);
// a hit is confirmed by decoding the original characters.
const B64_ANCHOR = new RegExp(literalsSource(WORDS.flatMap(variants).flatMap((w) => [0, 1, 2].map((k) => stableBase64(w, k).toLowerCase()))), 'g');
const HEX_ANCHOR = new RegExp(literalsSource(WORDS.flatMap(variants).map((w) => Buffer.from(w, 'utf8').toString('hex'))), 'g');

function isBase64Char(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x2d || c === 0x5f;
}

function isHexChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}

function widen(text: string, at: number, test: (c: number) => boolean): [number, number] {
  let s = at;
  while (s > 0 && at - s < MAX_BLOB && test(text.charCodeAt(s - 1))) s--;
  let e = at;
  while (e < text.length && e - at < MAX_BLOB && test(text.charCodeAt(e))) e++;
  return [s, e];
}

export function scanEncoded(text: string, lower: string, out: Finding[]): void {
  let coveredTo = 0;
  B64_ANCHOR.lastIndex = 0;
  for (let m = B64_ANCHOR.exec(lower); m !== null; m = B64_ANCHOR.exec(lower)) {
    if (m.index < coveredTo) continue;
    const [s, e0] = widen(text, m.index, isBase64Char);
    let e = e0;
    while (text.charCodeAt(e) === 0x3d && e - e0 < 2) e++; // '=' padding
    coveredTo = e;
    B64_ANCHOR.lastIndex = e;
    const decoded = Buffer.from(text.slice(s, e), 'base64').toString('utf8');
    if (hasInstructions(decoded.toLowerCase())) {
      out.push({ class: 'injection', type: 'ENCODED_INSTRUCTION', start: s, end: e, score: 0.9, rule: 'injection.encoded.base64' });
    }
  }
  coveredTo = 0;
  HEX_ANCHOR.lastIndex = 0;
  for (let m = HEX_ANCHOR.exec(lower); m !== null; m = HEX_ANCHOR.exec(lower)) {
    if (m.index < coveredTo) continue;
    let [s, e] = widen(lower, m.index, isHexChar);
    coveredTo = e;
    HEX_ANCHOR.lastIndex = e;
    if ((m.index - s) % 2 === 1) s++; // keep the byte alignment the anchor has
    if ((e - s) % 2 === 1) e--;
    const decoded = Buffer.from(lower.slice(s, e), 'hex').toString('utf8');
    if (hasInstructions(decoded.toLowerCase())) {
      out.push({ class: 'injection', type: 'ENCODED_INSTRUCTION', start: s, end: e, score: 0.9, rule: 'injection.encoded.hex' });
    }
  }
}
