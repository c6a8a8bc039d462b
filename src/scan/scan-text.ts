import { CssHiddenScanner } from './hidden.js';
import { ibanScanner } from './iban.js';
import { injectionDetector, injectionFindings } from './injection.js';
import { keyFormatScanner } from './key-formats.js';
import { lowerForScan } from './lower.js';
import { contextPhoneScanner } from './numbers.js';
import { PhraseCollector } from './phrases.js';
import { piiDetector, piiFindings } from './pii.js';
import { bearerScanner, secretDetector, secretFindings } from './secrets.js';
import { DATA_CLASSES, DEFAULT_MIN_SCORE } from './types.js';
import type { DataClass, Detector, Finding, ScanOptions } from './types.js';
import { runWordPass, wordStartsAgree } from './word-pass.js';

/** The detector of each data class. */
export const detectors: Readonly<Record<DataClass, Detector>> = {
  pii: piiDetector,
  secret: secretDetector,
  injection: injectionDetector,
};

/**
 * Findings of the detectors for `classes` (all when omitted) scoring at least
 * `options.minScore`, sorted by start, with no two spans overlapping: of overlapping
 * findings the earlier-starting one wins, then the longer, then the more confident.
 *
 * The same findings as running detectors[c].scan for each class, but the word-start literals
 * of all of them are found in one shared pass (word-pass.ts) rather than one pass each.
 */
export function scanText(text: string, classes?: ReadonlySet<DataClass>, options?: ScanOptions): Finding[] {
  const minScore = options?.minScore ?? DEFAULT_MIN_SCORE;
  const pii = classes === undefined || classes.has('pii');
  const secret = classes === undefined || classes.has('secret');
  const injection = classes === undefined || classes.has('injection');
  const lower = lowerForScan(text);
  const phones = pii ? contextPhoneScanner(text, lower, []) : undefined;
  // Scanners of the original text join the pass over `lower` only where both have the same word starts.
  const agree = wordStartsAgree(text);
  const ibans = pii && agree ? ibanScanner(text, []) : undefined;
  const keys = secret && agree ? keyFormatScanner(text, []) : undefined;
  const bearer = secret ? bearerScanner(text, lower, []) : undefined;
  const phrases = injection ? new PhraseCollector(lower, []) : undefined;
  const hiding = injection ? new CssHiddenScanner(lower, []) : undefined;
  runWordPass(lower, { phrases, phones, ibans, keys, bearer, hiding });
  phrases?.runOthers();
  const all: Finding[] = [];
  for (const c of DATA_CLASSES) {
    if (classes !== undefined && !classes.has(c)) continue;
    const found =
      c === 'pii'
        ? piiFindings(text, phones!.out, ibans?.out)
        : c === 'secret'
          ? secretFindings(text, keys?.out, bearer!.out)
          : injectionFindings(text, lower, phrases!.out, hiding!.found, options);
    for (const f of found) if (f.score >= minScore) all.push(f);
  }
  return resolveOverlaps(all);
}

export function resolveOverlaps(all: Finding[]): Finding[] {
  all.sort((a, b) => a.start - b.start || b.end - a.end || b.score - a.score);
  const kept: Finding[] = [];
  let covered = 0;
  for (const f of all) {
    if (f.start < covered) continue;
    kept.push(f);
    covered = f.end;
  }
  return kept;
}
