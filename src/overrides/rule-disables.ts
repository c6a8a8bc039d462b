import { JochError } from '../errors.js';
import type { CompiledPolicy } from '../policy/types.js';
import { checkTenant, type Store } from '../state/store.js';

/** Bounds of an emergency rule disable (documented in the README). */
export const DISABLE_LIMITS = {
  /** The longest a rule can stay disabled. */
  maxMs: 24 * 3_600_000,
  /** The most rules disabled at once per tenant and environment. */
  maxActive: 100,
  maxFollowUp: 500,
  maxReason: 1000,
} as const;

/** One rule of one policy switched off until `until`. */
export interface RuleDisable {
  readonly tenant: string;
  readonly environment: string;
  readonly policyNamespace: string | null;
  readonly policyName: string;
  readonly ruleId: string;
  readonly reason: string;
  /** The mandatory follow-up: a ticket or what must be fixed before the window ends. */
  readonly followUp: string;
  readonly disabledBy: string;
  readonly disabledAt: string;
  readonly until: string;
}

export interface RuleRef {
  readonly namespace: string | null;
  readonly name: string;
  readonly ruleId: string;
}

const ENVIRONMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * The environment of denials and rule disables: the gateway's `environment` setting, which
 * may be any name, so this is looser than a stored policy environment (lower case only).
 */
export function checkEnvironment(env: string): string {
  if (typeof env !== 'string' || !ENVIRONMENT.test(env)) {
    throw new JochError('JOCH_ENVIRONMENT_INVALID', `environment ${JSON.stringify(env)} is not a valid name`, {}, 'use 1-63 letters, digits, ".", "_" or "-", e.g. staging or prod');
  }
  return env;
}

const collection = (env: string): string => `overrides/rules/${env}`;
const topic = (env: string): string => `overrides/rules/${env}`;
const idOf = (r: RuleRef): string => JSON.stringify([r.namespace, r.name, r.ruleId]);

/**
 * Emergency rule disables, per tenant and environment, in the store. Each replica holds the
 * active list and builds its policy set without those rules (nothing is checked per
 * decision); a change is published, so every replica rebuilds within a moment, and each
 * replica rebuilds again by itself when the earliest window ends.
 */
export class RuleDisables {
  constructor(private readonly store: Store) {}

  async disable(d: Omit<RuleDisable, 'disabledAt'>): Promise<RuleDisable> {
    checkTenant(d.tenant);
    checkEnvironment(d.environment);
    const active = await this.active(d.tenant, d.environment);
    const ref = { namespace: d.policyNamespace, name: d.policyName, ruleId: d.ruleId };
    if (active.length >= DISABLE_LIMITS.maxActive && !active.some((a) => idOf(refOf(a)) === idOf(ref))) {
      throw new JochError('JOCH_LIMIT', `${active.length} rules are already disabled in ${d.environment}; at most ${DISABLE_LIMITS.maxActive} at once`, {}, 'end some early (DELETE /v1/overrides/rules/...) or fix the policies');
    }
    const entry: RuleDisable = { ...d, disabledAt: new Date().toISOString() };
    await this.store.put(d.tenant, collection(d.environment), idOf(ref), JSON.stringify(entry));
    await this.store.publish(d.tenant, topic(d.environment), 'changed');
    return entry;
  }

  /** Ends a disable early; undefined when none was active. */
  async enable(tenant: string, environment: string, ref: RuleRef): Promise<RuleDisable | undefined> {
    const current = (await this.active(tenant, environment)).find((a) => idOf(refOf(a)) === idOf(ref));
    await this.store.remove(checkTenant(tenant), collection(checkEnvironment(environment)), idOf(ref));
    await this.store.publish(tenant, topic(environment), 'changed');
    return current;
  }

  /** The disables in force now (lapsed ones are left out and removed). */
  async active(tenant: string, environment: string, now = Date.now()): Promise<RuleDisable[]> {
    const c = collection(checkEnvironment(environment));
    const out: RuleDisable[] = [];
    for (const id of await this.store.list(checkTenant(tenant), c)) {
      const raw = await this.store.get(tenant, c, id);
      if (raw === undefined) continue;
      const d = JSON.parse(raw) as RuleDisable;
      if (Date.parse(d.until) > now) out.push(d);
      else await this.store.remove(tenant, c, id);
    }
    return out;
  }

  /**
   * Calls `onChange` with the active list now (awaited), whenever it changes (pub/sub), when
   * the store comes back after an outage, and when the earliest window ends. Reads that fail
   * keep the last list. The returned function stops watching.
   */
  async watch(tenant: string, environment: string, onChange: (active: RuleDisable[]) => void): Promise<() => Promise<void>> {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let chain: Promise<void> = Promise.resolve();
    const load = (): Promise<void> =>
      (chain = chain.then(async () => {
        if (stopped) return;
        const active = await this.active(tenant, environment).catch(() => undefined);
        if (active === undefined || stopped) return;
        clearTimeout(timer);
        const next = Math.min(...active.map((a) => Date.parse(a.until)));
        // setTimeout holds at most ~24.8 days; windows are at most a day.
        if (Number.isFinite(next)) timer = setTimeout(() => void load(), Math.max(0, next - Date.now()) + 5);
        onChange(active);
      }));
    // With Redis down a subscription waits for the reconnect, and starting must not: wait a
    // bounded time, and load again once subscribed (a change published before was missed).
    let off: (() => Promise<void>) | undefined;
    const subscribed = this.store
      .subscribe(checkTenant(tenant), topic(checkEnvironment(environment)), () => void load())
      .then(async (unsubscribe) => {
        if (stopped) return void (await unsubscribe());
        off = unsubscribe;
        void load();
      })
      .catch(() => undefined);
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([subscribed, new Promise((resolve) => (timeout = setTimeout(resolve, 2000)))]);
    clearTimeout(timeout);
    this.store.onAvailability((up) => up && void load());
    await load();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await off?.();
    };
  }
}

function refOf(d: RuleDisable): RuleRef {
  return { namespace: d.policyNamespace, name: d.policyName, ruleId: d.ruleId };
}

const EGRESS_RULE = 'egress';

/** Whether a policy has the rule (or, for `egress`, an egress allow-list). */
export function hasRule(p: CompiledPolicy, ruleId: string): boolean {
  return p.rules.some((r) => r.id === ruleId) || (ruleId === EGRESS_RULE && p.egress !== undefined);
}

/** The policies with the disabled rules taken out (the same objects when nothing applies). */
export function withoutDisabledRules(policies: readonly CompiledPolicy[], disables: readonly RuleDisable[]): CompiledPolicy[] {
  if (disables.length === 0) return [...policies];
  return policies.map((p) => {
    const off = disables.filter((d) => d.policyName === p.name && d.policyNamespace === (p.namespace ?? null) && (p.tenant === undefined || p.tenant === d.tenant));
    if (off.length === 0) return p;
    const rules = p.rules.filter((r) => !off.some((d) => d.ruleId === r.id));
    // `egress` names the policy's egress allow-list in decisions (unless a rule has that id).
    const dropEgress = p.egress !== undefined && off.some((d) => d.ruleId === EGRESS_RULE) && !p.rules.some((r) => r.id === EGRESS_RULE);
    if (rules.length === p.rules.length && !dropEgress) return p;
    return { ...p, rules, ...(dropEgress ? { egress: undefined } : {}) };
  });
}
