import type { Hook } from '../context/types.js';
import { contentVersion } from './canonical.js';
import { SelectorIndex } from './selector-index.js';
import type { CompiledPolicy } from './types.js';

/**
 * An immutable, indexed set of compiled policies.
 *
 * Evaluation order across policies (deterministic): higher `spec.priority` first; at equal
 * priority, policies scoped wider (no tenant, then no namespace) before narrower ones, so
 * platform guardrails run before team rules; then by tenant, namespace and name.
 *
 * `candidates` returns, in that order, only the policies whose tenant, namespace and hooks
 * can apply; lists are built once per (tenant, namespace, hook) and cached. Tenants and
 * namespaces no policy names share one entry, so the cache stays bounded by what is loaded.
 */
export class PolicySet {
  readonly policies: readonly CompiledPolicy[];
  readonly version: string;
  private readonly tenants: ReadonlySet<string>;
  private readonly namespaces: ReadonlySet<string>;
  private readonly cache = new Map<string, SelectorIndex>();

  constructor(policies: readonly CompiledPolicy[]) {
    this.policies = [...policies].sort(compareForEvaluation);
    this.version = contentVersion(this.policies.map((p) => [p.key, p.version]));
    this.tenants = new Set(policies.flatMap((p) => (p.tenant === undefined ? [] : [p.tenant])));
    this.namespaces = new Set(policies.flatMap((p) => (p.namespace === undefined ? [] : [p.namespace])));
  }

  /** The policies that can apply to this tenant, namespace and hook, in order, indexed by selector. */
  candidates(tenant: string | undefined, namespace: string | undefined, hook: Hook): SelectorIndex {
    const t = tenant !== undefined && this.tenants.has(tenant) ? tenant : undefined;
    const n = namespace !== undefined && this.namespaces.has(namespace) ? namespace : undefined;
    const key = `${t ?? ''}\u0000${n ?? ''}\u0000${hook}`;
    let list = this.cache.get(key);
    if (list === undefined) {
      list = new SelectorIndex(
        this.policies.filter(
          (p) => (p.tenant === undefined || p.tenant === t) && (p.namespace === undefined || p.namespace === n) && (p.hooks === undefined || p.hooks.has(hook)),
        ),
      );
      this.cache.set(key, list);
    }
    return list;
  }
}

function compareForEvaluation(a: CompiledPolicy, b: CompiledPolicy): number {
  return (
    b.priority - a.priority ||
    scopeRank(a) - scopeRank(b) ||
    compareText(a.tenant ?? '', b.tenant ?? '') ||
    compareText(a.namespace ?? '', b.namespace ?? '') ||
    compareText(a.name, b.name)
  );
}

function scopeRank(p: CompiledPolicy): number {
  return (p.tenant === undefined ? 0 : 2) + (p.namespace === undefined ? 0 : 1);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
