import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { buildAdminServer } from './admin/server.js';
import type { GatewayConfig } from './config.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from './context/providers.js';
import type { Authorizer } from './envoy/authorization.js';
import { startGrpcEdge } from './envoy/grpc-server.js';
import { startHttpAuthzEdge } from './envoy/http-authz.js';
import { formatProblem, JochError } from './errors.js';
import { createLogger } from './log.js';
import { Metrics } from './metrics.js';
import { Engine } from './policy/engine.js';
import { PolicySet } from './policy/policy-set.js';
import { watchPaths } from './policy-watch.js';
import { SecretBroker, type RotationEvent } from './secrets/broker.js';
import { RedisInvalidationBus } from './secrets/bus.js';
import { loadPolicyFolders } from './secrets/load.js';
import type { SecretDefinition } from './secrets/resource.js';

export interface Gateway {
  /** The engine in force (replaced when policies reload). */
  engine(): Engine;
  readonly addresses: { grpc: number; http: number; admin: number };
  readonly metrics: Metrics;
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
function buildEngine(config: GatewayConfig, log: Logger): { engine: Engine; secrets: SecretDefinition[] } | undefined {
  const loaded = loadPolicyFolders(config.policies);
  for (const p of loaded.problems) (p.severity === 'warning' ? log.warn.bind(log) : log.error.bind(log))({ code: p.code }, formatProblem(p));
  if (!loaded.ok) return undefined;
  return { engine: new Engine(new PolicySet(loaded.policies), { defaultDecision: config.defaultDecision, environmentDefaults: config.environmentDefaults }), secrets: loaded.secrets };
}

/** Wiring only: config → policies → engine → servers (gRPC ext_authz, HTTP authz, admin). */
export async function startGateway(
  config: GatewayConfig,
  log: Logger = createLogger({ level: config.logLevel, patterns: config.redactPatterns, ...(config.environment !== undefined ? { environment: config.environment } : {}) }),
  hooks: GatewayHooks = {},
): Promise<Gateway> {
  const metrics = new Metrics();
  const first = buildEngine(config, log);
  if (!first) throw new JochError('JOCH_POLICIES_INVALID', `the policies under ${config.policies.join(', ')} are invalid (every problem is logged above)`);
  let engine = first.engine;
  metrics.policiesLoaded.set(engine.policies.policies.length);
  const secrets = new SecretBroker(first.secrets, {
    ...(config.secrets.redis !== undefined ? { bus: new RedisInvalidationBus(config.secrets.redis, config.secrets.channel) } : {}),
    onRotate: (event) => {
      metrics.secretRotations.inc({ origin: event.origin });
      log.info({ secret: event.secret, origin: event.origin, refreshed: event.refreshed }, event.error ?? 'secret rotated');
      hooks.onSecretRotated?.(event);
    },
    onError: (secret, message) => {
      metrics.secretFetchErrors.inc({ secret });
      log.warn({ secret }, message);
    },
  });
  await secrets.listen();
  await secrets.warm();
  const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS, config.providers]), secrets };

  let ready = false;
  const admin: FastifyInstance = buildAdminServer({
    ready: () => ready,
    policies: () => ({ count: engine.policies.policies.length, version: engine.policies.version }),
    metrics: metrics.registry,
    secrets,
  });
  let grpc: Awaited<ReturnType<typeof startGrpcEdge>>;
  let http: Awaited<ReturnType<typeof startHttpAuthzEdge>>;
  try {
    grpc = await startGrpcEdge(authorizer, config.grpc, metrics, log);
    http = await startHttpAuthzEdge(authorizer, config.http, config.httpPathPrefix, metrics, log);
    await admin.listen({ host: config.admin.host, port: config.admin.port });
  } catch (err) {
    await secrets.close(); // its refresh timers and Redis connections would keep a failed start alive
    throw err;
  }
  const adminBound = admin.server.address();
  const addresses = { grpc: grpc.port, http: http.port, admin: typeof adminBound === 'object' && adminBound ? adminBound.port : config.admin.port };

  const watcher = config.reload
    ? watchPaths(config.policies, () => {
        const next = buildEngine(config, log);
        if (!next) {
          metrics.reloads.inc({ result: 'error' });
          log.error({ policySetVersion: engine.policies.version }, 'policy reload failed; keeping the last good policies');
          return;
        }
        engine = next.engine;
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
    secrets,
    close: async () => {
      ready = false;
      watcher?.close();
      await Promise.all([grpc.close(), http.close()]);
      await admin.close();
      await secrets.close();
    },
  };
}
