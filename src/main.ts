import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildAdminServer } from './admin/server.js';
import type { GatewayConfig } from './config.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from './context/providers.js';
import type { Authorizer } from './envoy/authorization.js';
import { startGrpcEdge } from './envoy/grpc-server.js';
import { startHttpAuthzEdge } from './envoy/http-authz.js';
import { formatProblem, JochError } from './errors.js';
import { createLogger, createRedactor } from './log.js';
import { Metrics } from './metrics.js';
import { Engine } from './policy/engine.js';
import { PolicySet } from './policy/policy-set.js';
import { watchPaths } from './policy-watch.js';
import { SYSTEM_ACTOR } from './audit/record.js';
import { SecretBroker, type RotationEvent } from './secrets/broker.js';
import { RedisInvalidationBus } from './secrets/bus.js';
import { loadPolicyFolders } from './secrets/load.js';
import type { SecretDefinition } from './secrets/resource.js';
import { openState, type GatewayState } from './state/open.js';
import { hasRule, withoutDisabledRules, type RuleDisable, type RuleRef } from './overrides/rule-disables.js';
import type { CompiledPolicy } from './policy/types.js';

export interface Gateway {
  /** The engine in force (replaced when policies reload). */
  engine(): Engine;
  readonly addresses: { grpc: number; http: number; admin: number };
  readonly metrics: Metrics;
  /** Store, audit log and versioned policies. */
  readonly state: GatewayState;
  readonly secrets: SecretBroker;
  /** Graceful: stop accepting, finish in-flight calls, close. */
  close(): Promise<void>;
}

/** Where the gateway reports what its audit log records. */
export interface GatewayHooks {
  /** A Secret was rotated (here or, through the bus, on another replica). */
  readonly onSecretRotated?: (event: RotationEvent) => void;
}

/** Loads and compiles the policies and Secrets; undefined (with every problem logged) when any is invalid. */
function loadFolders(config: GatewayConfig, log: Logger): { policies: CompiledPolicy[]; secrets: SecretDefinition[] } | undefined {
  const loaded = loadPolicyFolders(config.policies);
  for (const p of loaded.problems) (p.severity === 'warning' ? log.warn.bind(log) : log.error.bind(log))({ code: p.code }, formatProblem(p));
  if (!loaded.ok) return undefined;
  return { policies: loaded.policies, secrets: loaded.secrets };
}

/** Compiles the environment's current stored policies; undefined (logged) when they cannot be read or compiled. */
async function storePolicies(state: GatewayState, source: { tenant: string; environment: string }, log: Logger): Promise<CompiledPolicy[] | undefined> {
  try {
    const { policies, problems } = await state.repo.compileCurrent(source.tenant, source.environment);
    for (const p of problems) log.error({ code: p.code }, formatProblem(p));
    if (problems.length > 0) return undefined;
    return policies;
  } catch (err) {
    log.error({ code: err instanceof JochError ? err.code : undefined }, `cannot load the stored policies: ${(err as Error).message}`);
    return undefined;
  }
}

/** Wiring only: config → policies → engine → servers (gRPC ext_authz, HTTP authz, admin). */
export async function startGateway(
  config: GatewayConfig,
  log: Logger = createLogger({ level: config.logLevel, patterns: config.redactPatterns, ...(config.environment !== undefined ? { environment: config.environment } : {}) }),
  hooks: GatewayHooks = {},
): Promise<Gateway> {
  const metrics = new Metrics();
  // Audit records go through the logs' redactor (built again here: the logger's own is inside pino).
  const redact = createRedactor({ patterns: config.redactPatterns, ...(config.environment !== undefined ? { environment: config.environment } : {}) });
  const state = await openState(config.state, log, metrics.registry, { redact, ...(config.environment !== undefined ? { environment: config.environment } : {}) });
  const source = config.state.policySource;
  // Secrets come from the policy folders; stored policy sets carry none yet.
  const first = source.kind === 'store' ? await storePolicies(state, source, log).then((policies) => policies && { policies, secrets: [] }) : loadFolders(config, log);
  if (!first) {
    await state.close();
    throw new JochError('JOCH_POLICIES_INVALID', source.kind === 'store' ? `the stored policies of ${source.tenant}/${source.environment} are invalid (every problem is logged above)` : `the policies under ${config.policies.join(', ')} are invalid (every problem is logged above)`);
  }
  // The engine is built from the loaded policies minus the rules disabled in an emergency.
  let loaded = first.policies;
  let disabled: readonly RuleDisable[] = [];
  const build = (): Engine => new Engine(new PolicySet(withoutDisabledRules(loaded, disabled)), { defaultDecision: config.defaultDecision, environmentDefaults: config.environmentDefaults });
  let engine = build();
  // The loaded set's own version (the engine's differs while rules are disabled): what a stored reload compares.
  let loadedVersion = engine.policies.version;
  metrics.policiesLoaded.set(engine.policies.policies.length);
  // Rotations reach the other replicas through `secrets.redis`, or else the store's Redis (single node).
  const storeRedis = config.state.store.kind === 'redis' ? config.state.store.redis : undefined;
  const secretsBusUrl = config.secrets.redis ?? storeRedis?.url;
  const secrets = new SecretBroker(first.secrets, {
    ...(secretsBusUrl !== undefined ? { bus: new RedisInvalidationBus(secretsBusUrl, config.secrets.channel ?? `${storeRedis?.keyPrefix ?? 'joch:'}secrets:invalidate`) } : {}),
    onRotate: (event) => {
      metrics.secretRotations.inc({ origin: event.origin });
      log.info({ secret: event.secret, origin: event.origin, refreshed: event.refreshed }, event.error ?? 'secret rotated');
      // Recorded where it was asked for; other replicas only follow it.
      if (event.origin === 'local') {
        state.audit.record({
          tenant: config.state.tenant,
          type: 'secret.rotated',
          actor: event.actor !== undefined ? { type: 'operator', id: event.actor } : SYSTEM_ACTOR,
          data: { secret: event.secret, refreshed: event.refreshed, ...(event.error !== undefined ? { error: event.error } : {}) },
        });
      }
      hooks.onSecretRotated?.(event);
    },
    onError: (secret, message) => {
      metrics.secretFetchErrors.inc({ secret });
      log.warn({ secret }, message);
    },
  });
  const disablesTenant = source.kind === 'store' ? source.tenant : config.state.tenant;
  const unwatchDisables = await state.disables.watch(disablesTenant, state.environment, (active) => {
    const changed = JSON.stringify(active) !== JSON.stringify(disabled);
    disabled = active;
    if (!changed) return;
    engine = build();
    log.warn({ disabled: active.map((d) => ({ policy: `${d.policyNamespace ?? '_'}/${d.policyName}`, rule: d.ruleId, until: d.until, followUp: d.followUp })) }, active.length > 0 ? 'emergency rule disables in force' : 'no emergency rule disables in force');
  });
  const closeAll = async () => {
    await unwatchDisables();
    await secrets.close(); // its refresh timers and Redis connections would keep a failed start alive
    await state.close();
  };
  await secrets.listen();
  await secrets.warm();
  const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS, config.providers]), recorder: state.recorder, secrets, grants: state.grants };
  const knowsRule = (tenant: string, ref: RuleRef): boolean =>
    loaded.some((p) => p.name === ref.name && (p.namespace ?? null) === ref.namespace && (p.tenant === undefined || p.tenant === tenant) && hasRule(p, ref.ruleId));

  let ready = false;
  const admin: FastifyInstance = buildAdminServer({
    ready: () => ready,
    policies: () => ({ count: engine.policies.policies.length, version: engine.policies.version }),
    metrics: metrics.registry,
    store: () => ({ kind: state.store.kind, available: state.store.available() }),
  }, { ...state.admin, secrets, overrides: { grants: state.grants, disables: state.disables, environment: state.environment, knowsRule }, ...(config.environment !== undefined ? { environment: config.environment } : {}) });
  let grpc: Awaited<ReturnType<typeof startGrpcEdge>>;
  let http: Awaited<ReturnType<typeof startHttpAuthzEdge>>;
  try {
    grpc = await startGrpcEdge(authorizer, config.grpc, metrics, log);
    http = await startHttpAuthzEdge(authorizer, config.http, config.httpPathPrefix, metrics, log);
    await admin.listen({ host: config.admin.host, port: config.admin.port });
  } catch (err) {
    await closeAll();
    throw err;
  }
  const adminBound = admin.server.address();
  const addresses = { grpc: grpc.port, http: http.port, admin: typeof adminBound === 'object' && adminBound ? adminBound.port : config.admin.port };

  // Store mode: every replica follows apply/promote/rollback through pub/sub (and reloads after an outage).
  const unwatch =
    source.kind === 'store'
      ? await state.repo.watch(source.tenant, source.environment, async () => {
          const policies = await storePolicies(state, source, log);
          const next = policies && new PolicySet(policies);
          if (policies && next && next.version !== loadedVersion) {
            loaded = policies;
            loadedVersion = next.version;
            engine = build();
            metrics.reloads.inc({ result: 'ok' });
            metrics.policiesLoaded.set(engine.policies.policies.length);
            log.info({ policies: engine.policies.policies.length, policySetVersion: engine.policies.version }, 'stored policies reloaded');
          } else if (!next) metrics.reloads.inc({ result: 'error' });
        })
      : undefined;
  const watcher = config.reload && source.kind === 'folder'
    ? watchPaths(config.policies, () => {
        const next = loadFolders(config, log);
        if (!next) {
          metrics.reloads.inc({ result: 'error' });
          log.error({ policySetVersion: engine.policies.version }, 'policy reload failed; keeping the last good policies');
          return;
        }
        loaded = next.policies;
        engine = build();
        secrets.update(next.secrets);
        void secrets.warm();
        metrics.reloads.inc({ result: 'ok' });
        metrics.policiesLoaded.set(engine.policies.policies.length);
        log.info({ policies: engine.policies.policies.length, policySetVersion: engine.policies.version }, 'policies reloaded');
      })
    : undefined;

  ready = true;
  log.info({ policies: engine.policies.policies.length, policySetVersion: engine.policies.version, ...addresses }, 'joch gateway ready');
  return {
    engine: () => engine,
    addresses,
    metrics,
    state,
    secrets,
    close: async () => {
      ready = false;
      watcher?.close();
      await unwatch?.();
      await unwatchDisables();
      await Promise.all([grpc.close(), http.close()]);
      await admin.close();
      await secrets.close();
      await state.close();
    },
  };
}
