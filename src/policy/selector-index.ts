import { labelValue, type Labels } from './selector.js';
import type { CompiledPolicy } from './types.js';

const INDEX_THRESHOLD = 32;

/**
 * An inverted index over the agent selectors of an ordered list of policies.
 *
 * Each selector's matchLabels and In requirements are necessary conditions; the index maps
 * `key → value → policies` for them and counts, per decision, how many of each policy's
 * indexed requirements the agent's labels meet. Only policies that meet all of them are
 * touched at all, so a decision reads a few small arrays instead of every selector: with
 * thousands of policies the cost is memory traffic, and this keeps it proportional to the
 * policies that can apply.
 */
export class SelectorIndex {
  private readonly needed: Uint16Array;
  private readonly counts: Uint16Array;
  private readonly index = new Map<string, Map<string, number[]>>();
  /** Short lists are cheaper to scan than to index (measured: bench/policy-eval.ts). */
  private readonly indexed: boolean;

  constructor(
    readonly policies: readonly CompiledPolicy[],
    threshold = INDEX_THRESHOLD,
  ) {
    this.indexed = policies.length > threshold;
    this.needed = new Uint16Array(this.indexed ? policies.length : 0);
    this.counts = new Uint16Array(this.needed.length);
    if (!this.indexed) return;
    policies.forEach((p, i) => {
      for (const req of p.selector.positive) {
        this.needed[i] = (this.needed[i] as number) + 1;
        let byValue = this.index.get(req.key);
        if (byValue === undefined) this.index.set(req.key, (byValue = new Map()));
        for (const v of req.values) {
          const list = byValue.get(v);
          if (list === undefined) byValue.set(v, [i]);
          else list.push(i);
        }
      }
    });
  }

  /**
   * The policies, in order, whose indexed requirements the labels meet (all of them for a
   * short list). Callers must still run the full selector: NotIn, Exists and DoesNotExist
   * are not indexed.
   */
  select(labels: Labels): readonly CompiledPolicy[] {
    if (!this.indexed) return this.policies;
    const counts = this.counts; // scratch, zeroed again below: evaluation is synchronous
    for (const [key, byValue] of this.index) {
      const value = labelValue(labels, key);
      if (value === undefined) continue;
      const hits = byValue.get(value);
      if (hits !== undefined) for (const i of hits) counts[i] = (counts[i] as number) + 1;
    }
    const out: CompiledPolicy[] = [];
    const needed = this.needed;
    for (let i = 0; i < needed.length; i++) {
      if (counts[i] === needed[i]) out.push(this.policies[i] as CompiledPolicy);
      counts[i] = 0;
    }
    return out;
  }
}
