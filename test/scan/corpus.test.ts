// Precision and recall of each scanner on the labelled corpus, printed as a table, with floors.
import { describe, expect, it } from 'vitest';
import { classifyPayload, DATA_CLASSES, FINDING_TYPES, scanText } from '../../src/scan/index.js';
import type { DataClass } from '../../src/scan/index.js';
import { loadCorpus } from './corpus.js';

// Floors: the corpus is small and written by the rules' author, so these guard against
// regressions rather than promise rates on real traffic. Injection recall stands below 1 on
// purpose: paraphrased injections without a known phrase are misses we keep in the corpus.
const FLOORS: Record<DataClass, { precision: number; recall: number }> = {
  pii: { precision: 0.95, recall: 0.95 },
  secret: { precision: 0.95, recall: 0.95 },
  injection: { precision: 0.95, recall: 0.85 },
};

describe('labelled corpus', () => {
  const corpus = loadCorpus();

  it('has unique ids and enough of each kind to mean something', () => {
    expect(new Set(corpus.map((e) => e.id)).size).toBe(corpus.length);
    for (const c of DATA_CLASSES) expect(corpus.filter((e) => e.expect.includes(c)).length).toBeGreaterThanOrEqual(10);
    expect(corpus.filter((e) => e.expect.length === 0).length).toBeGreaterThanOrEqual(25);
  });

  it('reports only finding types its class declares, and every injection type occurs', () => {
    const seen = new Set<string>();
    for (const e of corpus) {
      for (const f of scanText(e.text, undefined, { minScore: 0 })) {
        expect(FINDING_TYPES[f.class] as readonly string[]).toContain(f.type);
        seen.add(f.type);
      }
    }
    for (const t of FINDING_TYPES.injection) expect(seen).toContain(t);
  });

  it('meets the precision and recall floors per scanner', () => {
    const rows: string[] = [];
    const misses: string[] = [];
    for (const c of DATA_CLASSES) {
      let tp = 0;
      let fp = 0;
      let fn = 0;
      for (const e of corpus) {
        const found = classifyPayload(e.text).has(c);
        const want = e.expect.includes(c);
        if (found && want) tp++;
        else if (found) {
          fp++;
          misses.push(`false positive ${c}: ${e.id}`);
        } else if (want) {
          fn++;
          misses.push(`false negative ${c}: ${e.id}`);
        }
      }
      const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
      const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
      rows.push(`${c.padEnd(10)} ${String(tp).padStart(4)} ${String(fp).padStart(4)} ${String(fn).padStart(4)}   ${precision.toFixed(3)}   ${recall.toFixed(3)}`);
      expect.soft(precision, `${c} precision`).toBeGreaterThanOrEqual(FLOORS[c].precision);
      expect.soft(recall, `${c} recall`).toBeGreaterThanOrEqual(FLOORS[c].recall);
    }
    console.log(
      [`scanner corpus: ${corpus.length} texts`, 'class        TP   FP   FN   precision recall', ...rows, ...misses].join('\n'),
    );
  });
});
