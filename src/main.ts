import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { buildAdminServer } from './admin/server.js';
import type { GatewayConfig } from './config.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from './context/providers.js';
import type { Authorizer } from './envoy/authorization.js';
import { startGrpcEdge } from './envoy/grpc-server.js';
import { startHttpAuthzEdge } from './envoy/http-authz.js';
import { formatProblem, JochError } from './errors.js';
import { Metrics } from './metrics.js';
import { Engine } from './policy/engine.js';
import { loadPolicies } from './policy/load.js';
import { PolicySet } from './policy/policy-set.js';
import { watchPaths } from './policy-watch.js';
import { openState, type GatewayState } from './state/open.js';

export interface Gateway {
  /** The engine in force (replaced when policies reload). */
  engine(): Engine;
  readonly addresses: { grpc: number; http: number; admin: number };
  readonly metrics: Metrics;
  /** Store, audit log and versioned policies. */
  readonly state: GatewayState;
  /** Graceful: stop accepting, finish in-flight calls, close. */
  close(): Promise<void>;
}

/** Loads and compiles the policies; undefined (with every problem logged) when any is invalid. */
function buildEngine(config: GatewayConfig, log: Logger): Engine | undefined {
  const loaded = loadPolicies(config.policies);
  for (const p of loaded.problems) (p.severity === 'warning' ? log.warn.bind(log) : log.error.bind(log))({ code: p.code }, formatProblem(p));
  if (!loaded.ok) return undefined;
  return new Engine(new PolicySet(loaded.policies), { defaultDecision: config.defaultDecision, environmentDefaults: config.environmentDefaults });
}

/** Compiles the environment's current stored policies; undefined (logged) when they cannot be read or compiled. */
async function storeEngine(config: GatewayConfig, state: GatewayState, source: { tenant: string; environment: string }, log: Logger): Promise<Engine | undefined> {
  try {
    const { policies, problems } = await state.repo.compileCurrent(source.tenant, source.environment);
    for (const p of problems) log.error({ code: p.code }, formatProblem(p));
    if (problems.length > 0) return undefined;
    return new Engine(new PolicySet(policies), { defaultDecision: config.defaultDecision, environmentDefaults: config.environmentDefaults });
  } catch (err) {
    log.error({ code: err instanceof JochError ? err.code : undefined }, `cannot load the stored policies: ${(err as Error).message}`);
    return undefined;
  }
}

/** Wiring only: config → policies → engine → servers (gRPC ext_authz, HTTP authz, admin). */
export async function startGateway(config: GatewayConfig, log: Logger = pino({ name: 'joch', level: config.logLevel })): Promise<Gateway> {
  const metrics = new Metrics();
  const state = await openState(config.state, log, metrics.registry);
  const source = config.state.policySource;
  const first = source.kind === 'store' ? await storeEngine(config, state, source, log) : buildEngine(config, log);
  if (!first) {
    await state.close();
    throw new JochError('JOCH_POLICIES_INVALID', source.kind === 'store' ? `the stored policies of ${source.tenant}/${source.environment} are invalid (every problem is logged above)` : `the policies under ${config.policies.join(', ')} are invalid (every problem is logged above)`);
  }
  let engine = first;
  metrics.policiesLoaded.set(engine.policies.policies.length);
  const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS, config.providers]), recorder: state.recorder };

  let ready = false;
  const admin: FastifyInstance = buildAdminServer({
    ready: () => ready,
    policies: () => ({ count: engine.policies.policies.length, version: engine.policies.version }),
    metrics: metrics.registry,
    store: () => ({ kind: state.store.kind, available: state.store.available() }),
  }, state.admin);
  const { grpc, http } = await (async () => {
    const grpc = await startGrpcEdge(authorizer, config.grpc, metrics, log);
    const http = await startHttpAuthzEdge(authorizer, config.http, config.httpPathPrefix, metrics, log);
    await admin.listen({ host: config.admin.host, port: config.admin.port });
    return { grpc, http };
  })().catch(async (err: unknown) => {
    await state.close(); // a Redis connection would otherwise keep the failed process alive
    throw err;
  });
  const adminBound = admin.server.address();
  const addresses = { grpc: grpc.port, http: http.port, admin: typeof adminBound === 'object' && adminBound ? adminBound.port : config.admin.port };

  // Store mode: every replica follows apply/promote/rollback through pub/sub (and reloads after an outage).
  const unwatch =
    source.kind === 'store'
      ? await state.repo.watch(source.tenant, source.environment, async () => {
          const next = await storeEngine(config, state, source, log);
          if (next && next.policies.version !== engine.policies.version) {
            engine = next;
            metrics.reloads.inc({ result: 'ok' });
            metrics.policiesLoaded.set(engine.policies.policies.length);
            log.info({ policies: engine.policies.policies.length, policySetVersion: engine.policies.version }, 'stored policies reloaded');
          } else if (!next) metrics.reloads.inc({ result: 'error' });
        })
      : undefined;
  const watcher = config.reload && source.kind === 'folder'
    ? watchPaths(config.policies, () => {
        const next = buildEngine(config, log);
        if (!next) {
          metrics.reloads.inc({ result: 'error' });
          log.error({ policySetVersion: engine.policies.version }, 'policy reload failed; keeping the last good policies');
          return;
        }
        engine = next;
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
    close: async () => {
      ready = false;
      watcher?.close();
      await unwatch?.();
      await Promise.all([grpc.close(), http.close()]);
      await admin.close();
      await state.close();
    },
  };
}
