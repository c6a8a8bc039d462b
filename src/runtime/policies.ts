import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import { formatProblem, JochError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { hasRule, withoutDisabledRules, type RuleDisable, type RuleDisables, type RuleRef } from '../overrides/rule-disables.js';
import { Engine } from '../policy/engine.js';
import { PolicySet } from '../policy/policy-set.js';
import type { CompiledPolicy } from '../policy/types.js';
import { watchPaths } from '../policy-watch.js';
import { loadPolicyFolders } from '../secrets/load.js';
import type { SecretDefinition } from '../secrets/resource.js';
import type { PolicyRepository } from '../state/policies.js';

/** Where policies and rule disables come from besides the folders. */
export interface PolicySources {
  readonly repo: PolicyRepository;
  readonly disables: RuleDisables;
  readonly environment: string;
}

/** Loads and compiles the policies and Secrets; undefined (with every problem logged) when any is invalid. */
function loadFolders(config: GatewayConfig, log: Logger): { policies: CompiledPolicy[]; secrets: SecretDefinition[] } | undefined {
  const loaded = loadPolicyFolders(config.policies);
  for (const p of loaded.problems) (p.severity === 'warning' ? log.warn.bind(log) : log.error.bind(log))({ code: p.code }, formatProblem(p));
  if (!loaded.ok) return undefined;
  return { policies: loaded.policies, secrets: loaded.secrets };
}

/** Compiles the environment's current stored policies; undefined (logged) when they cannot be read or compiled. */
async function storePolicies(repo: PolicyRepository, source: { tenant: string; environment: string }, log: Logger): Promise<CompiledPolicy[] | undefined> {
  try {
    const { policies, problems } = await repo.compileCurrent(source.tenant, source.environment);
    for (const p of problems) log.error({ code: p.code }, formatProblem(p));
    if (problems.length > 0) return undefined;
    return policies;
  } catch (err) {
    log.error({ code: err instanceof JochError ? err.code : undefined }, `cannot load the stored policies: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * The policies in force: loaded from the folders or the store, minus the rules disabled in an
 * emergency, compiled into the engine the edges ask. Follows every change (folder edits, stored
 * versions, rule disables) by building a new engine; a broken change keeps the last good one.
 */
export class PolicyRuntime {
  private disabled: readonly RuleDisable[] = [];
  private current: Engine;
  /** The loaded set's own version (the engine's differs while rules are disabled): what a stored reload compares. */
  private loadedVersion: string;
  private readonly stops: (() => Promise<void> | void)[] = [];

  private constructor(
    private readonly config: GatewayConfig,
    private readonly sources: PolicySources,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private loaded: CompiledPolicy[],
    /** The Secret resources of the first load (stored policy sets carry none). */
    readonly secrets: readonly SecretDefinition[],
  ) {
    this.current = this.build();
    this.loadedVersion = this.current.policies.version;
    metrics.policiesLoaded.set(this.current.policies.policies.length);
  }

  /** The first load; throws JOCH_POLICIES_INVALID (every problem logged) when the policies are invalid. */
  static async load(config: GatewayConfig, sources: PolicySources, metrics: Metrics, log: Logger): Promise<PolicyRuntime> {
    const source = config.state.policySource;
    const first = source.kind === 'store' ? await storePolicies(sources.repo, source, log).then((policies) => policies && { policies, secrets: [] }) : loadFolders(config, log);
    if (!first) {
      throw new JochError('JOCH_POLICIES_INVALID', source.kind === 'store' ? `the stored policies of ${source.tenant}/${source.environment} are invalid (every problem is logged above)` : `the policies under ${config.policies.join(', ')} are invalid (every problem is logged above)`);
    }
    return new PolicyRuntime(config, sources, metrics, log, first.policies, first.secrets);
  }

  /** The engine in force (replaced when policies reload). */
  engine(): Engine {
    return this.current;
  }

  /** Whether the loaded policies (disabled rules included) hold this rule for the tenant. */
  knowsRule(tenant: string, ref: RuleRef): boolean {
    return this.loaded.some((p) => p.name === ref.name && (p.namespace ?? null) === ref.namespace && (p.tenant === undefined || p.tenant === tenant) && hasRule(p, ref.ruleId));
  }

  /** Applies the tenant's emergency rule disables now and on every change. */
  async followDisables(): Promise<void> {
    const source = this.config.state.policySource;
    const tenant = source.kind === 'store' ? source.tenant : this.config.state.tenant;
    this.stops.push(
      await this.sources.disables.watch(tenant, this.sources.environment, (active) => {
        const changed = JSON.stringify(active) !== JSON.stringify(this.disabled);
        this.disabled = active;
        this.metrics.ruleDisables.set(active.length);
        if (!changed) return;
        this.current = this.build();
        this.log.warn({ disabled: active.map((d) => ({ policy: `${d.policyNamespace ?? '_'}/${d.policyName}`, rule: d.ruleId, until: d.until, followUp: d.followUp })) }, active.length > 0 ? 'emergency rule disables in force' : 'no emergency rule disables in force');
      }),
    );
  }

  /**
   * Follows policy changes: stored versions through the store's pub/sub (and a reload after an
   * outage), or folder edits when reloading is on. `onSecrets` gets a folder reload's Secrets.
   */
  async followPolicies(onSecrets: (secrets: readonly SecretDefinition[]) => void): Promise<void> {
    const source = this.config.state.policySource;
    if (source.kind === 'store') {
      this.stops.push(
        await this.sources.repo.watch(source.tenant, source.environment, async () => {
          const policies = await storePolicies(this.sources.repo, source, this.log);
          const next = policies && new PolicySet(policies);
          if (policies && next && next.version !== this.loadedVersion) {
            this.loaded = policies;
            this.loadedVersion = next.version;
            this.reloaded('stored policies reloaded');
          } else if (!next) this.metrics.reloads.inc({ result: 'error' });
        }),
      );
    } else if (this.config.reload) {
      const watcher = watchPaths(this.config.policies, () => {
        const next = loadFolders(this.config, this.log);
        if (!next) {
          this.metrics.reloads.inc({ result: 'error' });
          this.log.error({ policySetVersion: this.current.policies.version }, 'policy reload failed; keeping the last good policies');
          return;
        }
        this.loaded = next.policies;
        onSecrets(next.secrets);
        this.reloaded('policies reloaded');
      });
      this.stops.push(() => watcher.close());
    }
  }

  /** Stops following changes. */
  async close(): Promise<void> {
    for (const stop of this.stops.splice(0)) await stop();
  }

  private reloaded(message: string): void {
    this.current = this.build();
    this.metrics.reloads.inc({ result: 'ok' });
    this.metrics.policiesLoaded.set(this.current.policies.policies.length);
    this.log.info({ policies: this.current.policies.policies.length, policySetVersion: this.current.policies.version }, message);
  }

  private build(): Engine {
    return new Engine(new PolicySet(withoutDisabledRules(this.loaded, this.disabled)), { defaultDecision: this.config.defaultDecision, environmentDefaults: this.config.environmentDefaults });
  }
}
