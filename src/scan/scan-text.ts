import { injectionDetector } from './injection.js';
import { piiDetector } from './pii.js';
import { secretDetector } from './secrets.js';
import { DATA_CLASSES } from './types.js';
import type { DataClass, Detector, Finding } from './types.js';

const DETECTORS: Readonly<Record<DataClass, Detector>> = {
  pii: piiDetector,
  secret: secretDetector,
  injection: injectionDetector,
};

/**
 * Findings of the detectors for `classes` (all when omitted), sorted by start, with no two
 * spans overlapping: of overlapping findings the earlier-starting one wins, then the longer,
 * then the more confident.
 */
export function scanText(text: string, classes?: ReadonlySet<DataClass>): Finding[] {
  const all: Finding[] = [];
  for (const c of DATA_CLASSES) {
    if (classes !== undefined && !classes.has(c)) continue;
    for (const f of DETECTORS[c].scan(text)) all.push(f);
  }
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
