import { JochError, type Problem } from '../errors.js';
import { contentVersion } from '../policy/canonical.js';
import { compileSources } from '../policy/load.js';
import type { CompiledPolicy, PolicyResource } from '../policy/types.js';
import { parseYaml } from '../policy/yaml-source.js';
import { checkTenant, type Store } from './store.js';

/** How a version came to be. */
export type VersionOrigin = { readonly kind: 'apply' } | { readonly kind: 'promote'; readonly from: string; readonly version: number } | { readonly kind: 'rollback'; readonly to: number };

/** One stored version of one policy in one environment. */
export interface PolicyVersion {
  readonly namespace: string | null;
  readonly name: string;
  readonly environment: string;
  /** Monotonic per policy and environment: 1, 2, 3 (the decision's policyVersion is `v<n>`). */
  readonly version: number;
  readonly contentHash: string;
  readonly resource: PolicyResource;
  readonly appliedAt: string;
  readonly appliedBy: string;
  readonly origin: VersionOrigin;
}

export interface PolicyRef {
  readonly namespace: string | null;
  readonly name: string;
}

export interface ApplyOutcome {
  readonly namespace: string | null;
  readonly name: string;
  readonly version: number;
  readonly changed: boolean;
}

export interface DiffEntry {
  readonly path: string;
  readonly op: 'add' | 'remove' | 'change';
  readonly from?: unknown;
  readonly to?: unknown;
}

const ENVIRONMENT = /^[a-z0-9][a-z0-9-]{0,62}$/;
const NO_NAMESPACE = '_';

export function checkEnvironment(env: string): string {
  if (typeof env !== 'string' || !ENVIRONMENT.test(env)) {
    throw new JochError('JOCH_ENVIRONMENT_INVALID', `environment ${JSON.stringify(env)} is not a valid name`, {}, 'use lower-case letters, digits and "-", e.g. staging or prod');
  }
  return env;
}

const policyKey = (ref: PolicyRef): string => `${ref.namespace ?? NO_NAMESPACE}/${ref.name}`;
const historyLog = (env: string, ref: PolicyRef): string => `policy/${env}/${policyKey(ref)}`;
const indexCollection = (env: string): string => `policies/${env}`;
const changesTopic = (env: string): string => `policies/${env}`;

/**
 * Policies as versioned resources in the store, per tenant and environment. Each policy has
 * an append-only history (its versions); `apply` adds a version when the content changed,
 * `promote` copies a version into another environment (as that environment's next version),
 * `rollback` re-applies an earlier version as the next one, so history is never rewritten.
 * Every change is published, so replicas reload within a moment; a replica that starts later
 * reads the current versions.
 */
export class PolicyRepository {
  constructor(private readonly store: Store) {}

  /** Validates sources (file:line:col problems) and stores what changed. Nothing is stored when any source is invalid. */
  async apply(tenant: string, environment: string, sources: readonly { file: string; text: string }[], actor: string): Promise<{ ok: true; applied: ApplyOutcome[]; warnings: Problem[] } | { ok: false; problems: Problem[] }> {
    checkTenant(tenant);
    checkEnvironment(environment);
    const compiled = compileSources(sources);
    const problems = [...compiled.problems];
    const resources = sources.flatMap((s) => parseYaml(s.file, s.text).documents.map((d) => ({ doc: d, value: d.value as PolicyResource })));
    for (const { doc, value } of resources) {
      const t = value?.metadata?.tenant;
      if (t !== undefined && t !== tenant) {
        problems.push({ code: 'JOCH_POLICY_TENANT', message: `policy "${value.metadata.name}" belongs to tenant "${t}" and cannot be applied to tenant "${tenant}"`, location: { file: doc.file, ...doc.locate(['metadata', 'tenant'], 'value') } });
      }
    }
    if (problems.some((p) => p.severity !== 'warning')) return { ok: false, problems };
    const applied: ApplyOutcome[] = [];
    for (const { value } of resources) {
      const ref = { namespace: value.metadata.namespace ?? null, name: value.metadata.name };
      applied.push(await this.addVersion(tenant, environment, ref, value, actor, { kind: 'apply' }));
    }
    if (applied.some((a) => a.changed)) await this.store.publish(tenant, changesTopic(environment), JSON.stringify({ applied }));
    return { ok: true, applied, warnings: problems };
  }

  /** Copies a version (default: the current one) from one environment into another. */
  async promote(tenant: string, ref: PolicyRef, from: string, to: string, actor: string, version?: number): Promise<ApplyOutcome> {
    checkEnvironment(to);
    if (from === to) throw new JochError('JOCH_PROMOTE_SAME', `cannot promote from "${from}" to itself`);
    const source = await this.require(tenant, from, ref, version);
    const outcome = await this.addVersion(tenant, to, ref, source.resource, actor, { kind: 'promote', from, version: source.version });
    if (outcome.changed) await this.store.publish(tenant, changesTopic(to), JSON.stringify({ applied: [outcome] }));
    return outcome;
  }

  /** Makes an earlier version (default: the one before the current) current again, as a new version. */
  async rollback(tenant: string, environment: string, ref: PolicyRef, actor: string, toVersion?: number): Promise<ApplyOutcome> {
    const current = await this.require(tenant, environment, ref);
    const target = toVersion ?? current.version - 1;
    if (target < 1 || target >= current.version) {
      throw new JochError('JOCH_ROLLBACK_VERSION', `cannot roll "${policyKey(ref)}" in ${environment} back to version ${target}: versions 1-${current.version - 1} are earlier than the current version ${current.version}`);
    }
    const earlier = await this.require(tenant, environment, ref, target);
    const outcome = await this.addVersion(tenant, environment, ref, earlier.resource, actor, { kind: 'rollback', to: target }, true);
    await this.store.publish(tenant, changesTopic(environment), JSON.stringify({ applied: [outcome] }));
    return outcome;
  }

  /** The current version of every policy in an environment. */
  async current(tenant: string, environment: string): Promise<PolicyVersion[]> {
    const keys = await this.store.list(checkTenant(tenant), indexCollection(checkEnvironment(environment)));
    const out: PolicyVersion[] = [];
    for (const key of keys) {
      const [ns, name] = key.split('/') as [string, string];
      const v = await this.get(tenant, environment, { namespace: ns === NO_NAMESPACE ? null : ns, name });
      if (v) out.push(v);
    }
    return out;
  }

  /** A version (default: the current one), or undefined. */
  async get(tenant: string, environment: string, ref: PolicyRef, version?: number): Promise<PolicyVersion | undefined> {
    const log = historyLog(checkEnvironment(environment), ref);
    const n = version ?? (await this.store.length(checkTenant(tenant), log));
    if (!Number.isSafeInteger(n) || n < 1) return undefined;
    const [entry] = await this.store.read(tenant, log, n, 1);
    return entry ? (JSON.parse(entry.value) as PolicyVersion) : undefined;
  }

  async history(tenant: string, environment: string, ref: PolicyRef): Promise<PolicyVersion[]> {
    return (await this.store.read(checkTenant(tenant), historyLog(checkEnvironment(environment), ref), 1, 100_000)).map((e) => JSON.parse(e.value) as PolicyVersion);
  }

  /** Compiles the current set; each policy's version is its stored `v<n>`. */
  async compileCurrent(tenant: string, environment: string): Promise<{ policies: CompiledPolicy[]; problems: Problem[] }> {
    const versions = await this.current(tenant, environment);
    const policies: CompiledPolicy[] = [];
    const problems: Problem[] = [];
    for (const v of versions) {
      const r = compileSources([{ file: `store:${tenant}/${environment}/${policyKey(v)}@v${v.version}`, text: JSON.stringify(v.resource) }]);
      problems.push(...r.problems.filter((p) => p.severity !== 'warning'));
      const p = r.policies[0];
      if (p) policies.push({ ...p, version: `v${v.version}` });
    }
    return { policies, problems };
  }

  /**
   * Calls `onChange` now and whenever the environment's policies change (pub/sub) or the store
   * comes back after an outage (changes may have been missed). Loads never overlap.
   */
  async watch(tenant: string, environment: string, onChange: () => Promise<void>): Promise<() => Promise<void>> {
    let running: Promise<void> | undefined;
    let again = false;
    const reload = (): void => {
      if (running) {
        again = true;
        return;
      }
      running = onChange()
        .catch(() => undefined)
        .finally(() => {
          running = undefined;
          if (again) {
            again = false;
            reload();
          }
        });
    };
    const off = await this.store.subscribe(checkTenant(tenant), changesTopic(checkEnvironment(environment)), reload);
    this.store.onAvailability((up) => up && reload());
    reload();
    return off;
  }

  private async require(tenant: string, environment: string, ref: PolicyRef, version?: number): Promise<PolicyVersion> {
    const v = await this.get(tenant, environment, ref, version);
    if (!v) throw new JochError('JOCH_NOT_FOUND', `policy "${policyKey(ref)}" has ${version === undefined ? 'no version' : `no version ${version}`} in environment "${environment}"`);
    return v;
  }

  private async addVersion(tenant: string, environment: string, ref: PolicyRef, resource: PolicyResource, actor: string, origin: VersionOrigin, force = false): Promise<ApplyOutcome> {
    const log = historyLog(environment, ref);
    const contentHash = contentVersion(resource);
    for (;;) {
      const length = await this.store.length(tenant, log);
      if (!force && length > 0) {
        const [last] = await this.store.read(tenant, log, length, 1);
        if (last && (JSON.parse(last.value) as PolicyVersion).contentHash === contentHash) return { ...ref, version: length, changed: false };
      }
      const entry: PolicyVersion = { ...ref, environment, version: length + 1, contentHash, resource, appliedAt: new Date().toISOString(), appliedBy: actor, origin };
      if ((await this.store.append(tenant, log, length, [JSON.stringify(entry)])).ok) {
        await this.store.put(tenant, indexCollection(environment), policyKey(ref), String(length + 1));
        return { ...ref, version: length + 1, changed: true };
      }
    }
  }
}

/** Structural difference between two JSON values, as JSON pointers. */
export function diffJson(from: unknown, to: unknown, path = ''): DiffEntry[] {
  if (JSON.stringify(from) === JSON.stringify(to)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (!isObj(from) || !isObj(to) || Array.isArray(from) !== Array.isArray(to)) return [{ path: path || '/', op: 'change', from, to }];
  const out: DiffEntry[] = [];
  const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])];
  if (!Array.isArray(from)) keys.sort();
  for (const k of keys) {
    const p = `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!(k in from)) out.push({ path: p, op: 'add', to: to[k] });
    else if (!(k in to)) out.push({ path: p, op: 'remove', from: from[k] });
    else out.push(...diffJson(from[k], to[k], p));
  }
  return out;
}
