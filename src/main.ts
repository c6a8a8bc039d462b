import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { buildAdminServer, type AdminStatus } from './admin/server.js';
import type { GatewayConfig } from './config.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from './context/providers.js';
import type { Authorizer } from './envoy/authorization.js';
import { createLogger, type RedactorOptions } from './log.js';
import { Metrics } from './metrics.js';
import type { Engine } from './policy/engine.js';
import { startEdges, type ListeningEdges } from './runtime/edges.js';
import { PolicyRuntime } from './runtime/policies.js';
import { secretBroker } from './runtime/secrets.js';
import { tuneV8ForServing } from './runtime/v8-flags.js';
import type { RotationEvent, SecretBroker } from './secrets/broker.js';
import { openState, type GatewayState } from './state/open.js';

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

export function gatewayLogger(config: GatewayConfig): Logger {
  return createLogger({ level: config.logLevel, patterns: config.redactPatterns, ...(config.environment !== undefined ? { environment: config.environment } : {}) });
}

/** The logs' redaction rules, which audit records go through too (with a redactor of their own: the logger's is inside pino). */
export function auditRedaction(config: GatewayConfig): Omit<RedactorOptions, 'known'> {
  return { patterns: config.redactPatterns, ...(config.environment !== undefined ? { environment: config.environment } : {}) };
}

/** What the edges ask for every decision: the engine in force, provider hosts, audit, Secrets, grants. */
export function authorizerOf(config: GatewayConfig, policies: PolicyRuntime, state: Pick<GatewayState, 'recorder' | 'grants'>, secrets: SecretBroker): Authorizer {
  return { engine: () => policies.engine(), providers: providerMatcher([DEFAULT_PROVIDER_HOSTS, config.providers]), recorder: state.recorder, secrets, grants: state.grants };
}

/**
 * The control side of a gateway: state, policies, Secrets and the admin server. One process
 * runs it alone (`serve --workers N`: the workers serve Envoy) or with the edges (startGateway).
 */
export interface Control {
  readonly metrics: Metrics;
  readonly state: GatewayState;
  readonly policies: PolicyRuntime;
  readonly secrets: SecretBroker;
  readonly admin: FastifyInstance;
  /** Closes what start opened, in reverse order (the admin server is the caller's). */
  close(): Promise<void>;
}

/** State → policies → Secrets → the admin server (built, not listening). Closes what it opened if it fails. */
export async function startControl(config: GatewayConfig, log: Logger, hooks: GatewayHooks, options: { workers: boolean; ready: () => boolean; metrics?: Pick<Registry, 'contentType' | 'metrics'>; status?: Pick<AdminStatus, 'workers'> }): Promise<Control> {
  tuneV8ForServing();
  const metrics = new Metrics();
  const state = await openState(config.state, log, metrics.registry, { redaction: auditRedaction(config), ...(config.environment !== undefined ? { environment: config.environment } : {}) });
  let policies: PolicyRuntime;
  try {
    policies = await PolicyRuntime.load(config, state, metrics, log);
  } catch (err) {
    await state.close();
    throw err;
  }
  const secrets = secretBroker(config, policies.secrets, { metrics, log, audit: state.audit, store: state.store, workers: options.workers, ...(hooks.onSecretRotated ? { onRotated: hooks.onSecretRotated } : {}) });
  const close = async (): Promise<void> => {
    await policies.close();
    await secrets.close(); // its refresh timers and Redis connections would keep a failed start alive
    await state.close();
  };
  try {
    await policies.followDisables();
    await secrets.listen();
    await secrets.warm();
  } catch (err) {
    await close();
    throw err;
  }
  const admin = buildAdminServer({
    ready: options.ready,
    policies: () => ({ count: policies.engine().policies.policies.length, version: policies.engine().policies.version }),
    metrics: options.metrics ?? metrics.registry,
    store: () => ({ kind: state.store.kind, available: state.store.available() }),
    ...options.status,
  }, { ...state.admin, secrets, overrides: { grants: state.grants, disables: state.disables, environment: state.environment, knowsRule: (tenant, ref) => policies.knowsRule(tenant, ref) }, ...(config.environment !== undefined ? { environment: config.environment } : {}) });
  return { metrics, state, policies, secrets, admin, close };
}

/** One process: config → state → policies → engine → servers (gRPC ext_authz and ext_proc, HTTP authz, admin). */
export async function startGateway(config: GatewayConfig, log: Logger = gatewayLogger(config), hooks: GatewayHooks = {}): Promise<Gateway> {
  let ready = false;
  const control = await startControl(config, log, hooks, { workers: false, ready: () => ready });
  const { metrics, state, policies, secrets, admin } = control;
  let edges: ListeningEdges;
  try {
    edges = await startEdges(authorizerOf(config, policies, state, secrets), config, metrics, log);
    await admin.listen({ host: config.admin.host, port: config.admin.port }).catch(async (err: unknown) => {
      await edges.close();
      throw err;
    });
    await policies.followPolicies((defs) => {
      secrets.update(defs);
      void secrets.warm();
    });
  } catch (err) {
    await control.close();
    throw err;
  }
  const adminBound = admin.server.address();
  const addresses = { grpc: edges.grpc, http: edges.http, admin: typeof adminBound === 'object' && adminBound ? adminBound.port : config.admin.port };
  ready = true;
  log.info({ policies: policies.engine().policies.policies.length, policySetVersion: policies.engine().policies.version, ...addresses }, 'joch gateway ready');
  return {
    engine: () => policies.engine(),
    addresses,
    metrics,
    state,
    secrets,
    close: async () => {
      ready = false;
      await policies.close();
      await edges.close();
      await admin.close();
      await secrets.close();
      await state.close();
    },
  };
}
