import type { Hook } from '../context/types.js';
import type { Condition, Either, Requirement } from './conditions.js';
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
 *   strings (`tool.name: shell`, `request.method: [POST, DELETE]`) or a number past a bound
 *   (`cost.runUsd: ">5"`), a host under a domain (`destination.host: "*.example.com"`) or a
 *   glob's leading text (`agent.name: "test-*"`), or an `any` of such, is skipped, without reading the rule at all, when the context's
 *   value does not qualify.
 * A skipped rule is one whose `when` is certainly false, so decisions are unchanged;
 * `--explain` walks every rule of every candidate regardless.
 */
export class Candidates {
  readonly index: SelectorIndex;
  /**
   * The rules of every candidate that can fire under this hook, in order, numbered from 0:
   * position `i`'s are `offsets[i]` up to `offsets[i + 1]`. With their conditions in one flat
   * array, deciding reads a rule object only once its condition held.
   */
  readonly rules: readonly CompiledRule[];
  readonly conditions: readonly Condition[];
  readonly offsets: Uint32Array;
  private readonly guards: RuleGuards | undefined;
  /** Same positions: each policy's environments, so deciding reads a policy only once it applies. */
  private readonly environments: readonly (ReadonlySet<string> | undefined)[];
  /** Whether any candidate declares an egress allow-list (without one, egress is not checked). */
  readonly anyEgress: boolean;

  constructor(
    readonly policies: readonly CompiledPolicy[],
    hook: Hook,
  ) {
    this.index = new SelectorIndex(policies);
    const perPolicy = policies.map((p) => p.rules.filter((r) => canFireUnder(r, hook)));
    this.offsets = new Uint32Array(policies.length + 1);
    perPolicy.forEach((rules, i) => {
      this.offsets[i + 1] = (this.offsets[i] as number) + rules.length;
    });
    this.rules = perPolicy.flat();
    this.conditions = this.rules.map((r) => r.condition);
    this.guards = RuleGuards.build(this.rules);
    this.environments = policies.map((p) => p.environments);
    this.anyEgress = policies.some((p) => p.egress !== undefined);
  }

  /** Whether the policy at `position` applies in this environment (it names none, or this one). */
  inEnvironment(position: number, environment: string | undefined): boolean {
    const envs = this.environments[position];
    return envs === undefined || (environment !== undefined && envs.has(environment));
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
  for (const r of rule.condition.requires) if (r.kind === 'oneOf' && r.path === 'hook' && !r.values.has(hook)) return false;
  return true;
}

type PathRequirement = Exclude<Requirement, Either>;

/** Per guarded path: which rules each string value lets through, and the numeric bounds. */
interface GuardPath {
  readonly get: PathRequirement['get'];
  readonly byValue: Map<string, number[]>;
  /** Rules by the suffix (`.example.com`) the value must end with. */
  readonly bySuffix: Map<string, number[]>;
  /** Rules by the prefix the value must start with, and the distinct prefix lengths. */
  readonly byPrefix: Map<string, number[]>;
  readonly prefixLengths: number[];
  /** `gt`/`gte` bounds by ascending `n`: a value lets through a prefix of them. */
  readonly above: BoundEntry[];
  /** `lt`/`lte` bounds by descending `n`. */
  readonly below: BoundEntry[];
}

interface BoundEntry {
  readonly n: number;
  /** `gt`/`lt`: a value equal to `n` is out. */
  readonly strict: boolean;
  readonly rule: number;
}

/**
 * Prefer a set of strings (fewest first), then a host suffix or text prefix, then a bound,
 * then an `any` of them: names such as `tool.name` split rules finely.
 */
function selectivity(r: Requirement): number {
  switch (r.kind) {
    case 'oneOf':
      return r.values.size;
    case 'suffix':
    case 'prefix':
      return 1e6;
    case 'bound':
      return 1e9;
    default:
      return 1e12;
  }
}

function add(map: Map<string, number[]>, key: string, rule: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [rule]);
  else list.push(rule);
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

  /** Each rule's guard is its most selective requirement; a hook requirement already did its work. */
  static build(rules: readonly CompiledRule[]): RuleGuards | undefined {
    const base = new Uint8Array(rules.length).fill(1);
    const byPath = new Map<string, GuardPath>();
    rules.forEach((rule, n) => {
      let best: Requirement | undefined;
      for (const r of rule.condition.requires) {
        if (r.kind === 'oneOf' && r.path === 'hook') continue;
        if (best === undefined || selectivity(r) < selectivity(best)) best = r;
      }
      if (best === undefined) return;
      base[n] = 0;
      // Marks are ORed, so an `any` registers the rule under each of its branches' requirements.
      for (const req of best.kind === 'either' ? best.options : [best]) register(byPath, req, n);
    });
    for (const path of byPath.values()) {
      path.above.sort((x, y) => x.n - y.n);
      path.below.sort((x, y) => y.n - x.n);
    }
    return byPath.size === 0 ? undefined : new RuleGuards(base, [...byPath.values()]);
  }

  passing(s: EvalState): Uint8Array {
    const out = this.scratch;
    out.set(this.base);
    for (let k = 0; k < this.paths.length; k++) {
      const path = this.paths[k] as GuardPath;
      const v = path.get(s);
      if (typeof v === 'string') {
        mark(out, path.byValue.get(v));
        // A suffix starts with '.', after at least one character: look up each such tail.
        if (path.bySuffix.size > 0) for (let at = v.indexOf('.', 1); at !== -1; at = v.indexOf('.', at + 1)) mark(out, path.bySuffix.get(v.slice(at)));
        const lengths = path.prefixLengths;
        for (let j = 0; j < lengths.length; j++) if ((lengths[j] as number) <= v.length) mark(out, path.byPrefix.get(v.slice(0, lengths[j])));
      } else if (typeof v === 'number') {
        // A NaN passes no bound, as in the matchers: every comparison with it is false.
        const { above, below } = path;
        for (let j = 0; j < above.length && (above[j] as BoundEntry).n <= v; j++) {
          const e = above[j] as BoundEntry;
          if (e.n < v || !e.strict) out[e.rule] = 1;
        }
        for (let j = 0; j < below.length && (below[j] as BoundEntry).n >= v; j++) {
          const e = below[j] as BoundEntry;
          if (e.n > v || !e.strict) out[e.rule] = 1;
        }
      }
    }
    return out;
  }
}

function register(byPath: Map<string, GuardPath>, req: PathRequirement, rule: number): void {
  let path = byPath.get(req.path);
  if (path === undefined) {
    path = { get: req.get, byValue: new Map(), bySuffix: new Map(), byPrefix: new Map(), prefixLengths: [], above: [], below: [] };
    byPath.set(req.path, path);
  }
  switch (req.kind) {
    case 'oneOf':
      for (const v of req.values) add(path.byValue, v, rule);
      return;
    case 'suffix':
      add(path.bySuffix, req.suffix, rule);
      return;
    case 'prefix':
      add(path.byPrefix, req.prefix, rule);
      if (!path.prefixLengths.includes(req.prefix.length)) path.prefixLengths.push(req.prefix.length);
      return;
    default: {
      const entry = { n: req.n, strict: req.op === 'gt' || req.op === 'lt', rule };
      (req.op === 'gt' || req.op === 'gte' ? path.above : path.below).push(entry);
    }
  }
}

function mark(out: Uint8Array, rules: readonly number[] | undefined): void {
  if (rules !== undefined) for (let j = 0; j < rules.length; j++) out[rules[j] as number] = 1;
}
