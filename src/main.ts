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

export interface Gateway {
  /** The engine in force (replaced when policies reload). */
  engine(): Engine;
  readonly addresses: { grpc: number; http: number; admin: number };
  readonly metrics: Metrics;
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

/** Wiring only: config → policies → engine → servers (gRPC ext_authz, HTTP authz, admin). */
export async function startGateway(config: GatewayConfig, log: Logger = pino({ name: 'joch', level: config.logLevel })): Promise<Gateway> {
  const metrics = new Metrics();
  const first = buildEngine(config, log);
  if (!first) throw new JochError('JOCH_POLICIES_INVALID', `the policies under ${config.policies.join(', ')} are invalid (every problem is logged above)`);
  let engine = first;
  metrics.policiesLoaded.set(engine.policies.policies.length);
  const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS, config.providers]) };

  let ready = false;
  const admin: FastifyInstance = buildAdminServer({
    ready: () => ready,
    policies: () => ({ count: engine.policies.policies.length, version: engine.policies.version }),
    metrics: metrics.registry,
  });
  const grpc = await startGrpcEdge(authorizer, config.grpc, metrics, log);
  const http = await startHttpAuthzEdge(authorizer, config.http, config.httpPathPrefix, metrics, log);
  await admin.listen({ host: config.admin.host, port: config.admin.port });
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
    close: async () => {
      ready = false;
      watcher?.close();
      await Promise.all([grpc.close(), http.close()]);
      await admin.close();
    },
  };
}
