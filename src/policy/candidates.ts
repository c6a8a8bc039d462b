import type { Hook } from '../context/types.js';
import type { Requirement } from './conditions.js';
import type { EvalState } from './eval-state.js';
import { SelectorIndex } from './selector-index.js';
import type { CompiledPolicy, CompiledRule } from './types.js';

/**
 * The policies that can apply to one (tenant, namespace, hook), in evaluation order, with
 * what lets a decision touch only the policies and rules that can apply:
 * - the selector index over the policies' agent selectors;
 * - per policy, its rules without those whose `when` requires another hook (they could
 *   never fire here);
 * - a guard index over the rest: a rule whose `when` requires a path to hold one of a few
 *   strings (`tool.name: shell`, `request.method: [POST, DELETE]`) is skipped, without
 *   reading the rule at all, when the context's value is not among them.
 * A skipped rule is one whose `when` is certainly false, so decisions are unchanged;
 * `--explain` walks every rule of every candidate regardless.
 */
export class Candidates {
  readonly index: SelectorIndex;
  /** Same positions as `policies`: the rules that can fire under this hook, in order. */
  readonly rules: readonly (readonly CompiledRule[])[];
  /** Where each position's rules start in the numbering `passing` uses. */
  readonly offsets: Uint32Array;
  private readonly guards: RuleGuards | undefined;

  constructor(
    readonly policies: readonly CompiledPolicy[],
    hook: Hook,
  ) {
    this.index = new SelectorIndex(policies);
    this.rules = policies.map((p) => {
      const rules = p.rules.filter((r) => canFireUnder(r, hook));
      return rules.length === p.rules.length ? p.rules : rules;
    });
    this.offsets = new Uint32Array(policies.length);
    let total = 0;
    this.rules.forEach((rules, i) => {
      this.offsets[i] = total;
      total += rules.length;
    });
    this.guards = RuleGuards.build(this.rules.flat());
  }

  /**
   * For one decision: per rule (numbered from `offsets`), 0 when its guard rules it out.
   * Undefined when no rule has a guard. A scratch array, valid until the next call:
   * evaluation is synchronous.
   */
  passing(s: EvalState): Uint8Array | undefined {
    return this.guards?.passing(s);
  }
}

function canFireUnder(rule: CompiledRule, hook: Hook): boolean {
  for (const r of rule.condition.requires) if (r.path === 'hook' && !r.values.has(hook)) return false;
  return true;
}

/** Per guarded path: which rules each value lets through. */
interface GuardPath {
  readonly get: Requirement['get'];
  readonly byValue: Map<string, number[]>;
}

class RuleGuards {
  private readonly scratch: Uint8Array;

  private constructor(
    /** 1 for rules without a guard: they always run. */
    private readonly base: Uint8Array,
    private readonly paths: readonly GuardPath[],
  ) {
    this.scratch = new Uint8Array(base.length);
  }

  /** Each rule's guard is its most selective requirement (fewest values); a hook requirement already did its work. */
  static build(rules: readonly CompiledRule[]): RuleGuards | undefined {
    const base = new Uint8Array(rules.length).fill(1);
    const byPath = new Map<string, GuardPath>();
    rules.forEach((rule, n) => {
      let best: Requirement | undefined;
      for (const r of rule.condition.requires) if (r.path !== 'hook' && (best === undefined || r.values.size < best.values.size)) best = r;
      if (best === undefined) return;
      base[n] = 0;
      let path = byPath.get(best.path);
      if (path === undefined) byPath.set(best.path, (path = { get: best.get, byValue: new Map() }));
      for (const v of best.values) {
        const list = path.byValue.get(v);
        if (list === undefined) path.byValue.set(v, [n]);
        else list.push(n);
      }
    });
    return byPath.size === 0 ? undefined : new RuleGuards(base, [...byPath.values()]);
  }

  passing(s: EvalState): Uint8Array {
    const out = this.scratch;
    out.set(this.base);
    for (let k = 0; k < this.paths.length; k++) {
      const path = this.paths[k] as GuardPath;
      const v = path.get(s);
      if (typeof v !== 'string') continue;
      const hits = path.byValue.get(v);
      if (hits !== undefined) for (let j = 0; j < hits.length; j++) out[hits[j] as number] = 1;
    }
    return out;
  }
}
