import type { Hook } from '../context/types.js';
import { contentVersion } from './canonical.js';
import { Candidates } from './candidates.js';
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
  /** tenant → namespace → hook → candidates (undefined for tenants and namespaces no policy names). */
  private readonly cache = new Map<string | undefined, Map<string | undefined, Map<Hook, Candidates>>>();

  constructor(policies: readonly CompiledPolicy[]) {
    this.policies = [...policies].sort(compareForEvaluation);
    this.version = contentVersion(this.policies.map((p) => [p.key, p.version]));
    this.tenants = new Set(policies.flatMap((p) => (p.tenant === undefined ? [] : [p.tenant])));
    this.namespaces = new Set(policies.flatMap((p) => (p.namespace === undefined ? [] : [p.namespace])));
  }

  /** The policies that can apply to this tenant, namespace and hook, in order, indexed by selector. */
  candidates(tenant: string | undefined, namespace: string | undefined, hook: Hook): Candidates {
    // Nested maps rather than one joined key: no string is built and hashed per decision.
    // Known tenants and namespaces are their own keys, so the common case is three lookups.
    const hit = this.cache.get(tenant)?.get(namespace)?.get(hook);
    if (hit !== undefined) return hit;
    const t = tenant !== undefined && this.tenants.has(tenant) ? tenant : undefined;
    const n = namespace !== undefined && this.namespaces.has(namespace) ? namespace : undefined;
    let byNamespace = this.cache.get(t);
    if (byNamespace === undefined) this.cache.set(t, (byNamespace = new Map()));
    let byHook = byNamespace.get(n);
    if (byHook === undefined) byNamespace.set(n, (byHook = new Map()));
    let list = byHook.get(hook);
    if (list === undefined) {
      list = new Candidates(
        this.policies.filter(
          (p) => (p.tenant === undefined || p.tenant === t) && (p.namespace === undefined || p.namespace === n) && (p.hooks === undefined || p.hooks.has(hook)),
        ),
        hook,
      );
      byHook.set(hook, list);
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
