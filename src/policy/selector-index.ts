import { labelValue, type Labels } from './selector.js';
import type { CompiledPolicy } from './types.js';

const INDEX_THRESHOLD = 4;

/**
 * An inverted index over the agent selectors of an ordered list of policies.
 *
 * Each selector's matchLabels and In requirements are necessary conditions; the index maps
 * `key → value → policies` for them and counts, per decision, how many of each policy's
 * indexed requirements the agent's labels meet. Only policies that meet all of them are
 * touched at all, so a decision reads a few small arrays instead of every selector: with
 * many policies the cost is memory traffic (each selector is several objects, rarely in
 * cache), and this keeps it proportional to the policies that can apply. A selector made
 * only of such requirements is decided by the count alone (`exact`).
 */
export class SelectorIndex {
  private readonly needed: Uint16Array;
  private readonly counts: Uint16Array;
  /** 1 where the policy's selector is only matchLabels and In: meeting the count is matching. */
  private readonly complete: Uint8Array;
  /** Parallel arrays (label key, value → positions): iterating them allocates nothing per decision. */
  private readonly keys: string[] = [];
  private readonly byKey: Map<string, number[]>[] = [];
  /**
   * Only a list of a few policies is cheaper to scan than to index (measured with
   * bench/policy-eval.ts: at 10 candidates per decision, indexing is faster, because the
   * selectors it skips are out of cache).
   */
  private readonly indexed: boolean;
  /** Every position, in order. */
  readonly all: readonly number[];

  constructor(
    readonly policies: readonly CompiledPolicy[],
    threshold = INDEX_THRESHOLD,
  ) {
    this.indexed = policies.length > threshold;
    this.all = policies.map((_, i) => i);
    this.needed = new Uint16Array(this.indexed ? policies.length : 0);
    this.counts = new Uint16Array(this.needed.length);
    this.complete = new Uint8Array(this.needed.length);
    if (!this.indexed) return;
    policies.forEach((p, i) => {
      if (p.selector.complete) this.complete[i] = 1;
      for (const req of p.selector.positive) {
        this.needed[i] = (this.needed[i] as number) + 1;
        const k = this.keys.indexOf(req.key);
        let byValue = this.byKey[k];
        if (byValue === undefined) {
          this.keys.push(req.key);
          this.byKey.push((byValue = new Map()));
        }
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
   * short list). Callers must still run the full selector unless `exact` says it is decided:
   * NotIn, Exists and DoesNotExist are not indexed.
   */
  select(labels: Labels): readonly CompiledPolicy[] {
    return this.positions(labels).map((i) => this.policies[i] as CompiledPolicy);
  }

  /** Whether the policy at `position`, once `positions` returned it, is known to match. */
  exact(position: number): boolean {
    return this.complete[position] === 1;
  }

  /** As `select`, but the policies' positions in `policies`, ascending. */
  positions(labels: Labels): readonly number[] {
    if (!this.indexed) return this.all;
    const counts = this.counts; // scratch, zeroed again below: evaluation is synchronous
    for (let k = 0; k < this.keys.length; k++) {
      const value = labelValue(labels, this.keys[k] as string);
      if (value === undefined) continue;
      const hits = (this.byKey[k] as Map<string, number[]>).get(value);
      if (hits !== undefined) for (let j = 0; j < hits.length; j++) counts[hits[j] as number] = (counts[hits[j] as number] as number) + 1;
    }
    const out: number[] = [];
    const needed = this.needed;
    for (let i = 0; i < needed.length; i++) {
      if (counts[i] === needed[i]) out.push(i);
      counts[i] = 0;
    }
    return out;
  }
}
