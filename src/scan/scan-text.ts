import { injectionDetector } from './injection.js';
import { piiDetector } from './pii.js';
import { secretDetector } from './secrets.js';
import { DATA_CLASSES, DEFAULT_MIN_SCORE } from './types.js';
import type { DataClass, Detector, Finding, ScanOptions } from './types.js';

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
 */
export function scanText(text: string, classes?: ReadonlySet<DataClass>, options?: ScanOptions): Finding[] {
  const minScore = options?.minScore ?? DEFAULT_MIN_SCORE;
  const all: Finding[] = [];
  for (const c of DATA_CLASSES) {
    if (classes !== undefined && !classes.has(c)) continue;
    for (const f of detectors[c].scan(text, options)) if (f.score >= minScore) all.push(f);
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
