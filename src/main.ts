import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { buildAdminServer } from './admin/server.js';
import { formatProblem, JochError } from './errors.js';
import { Engine, type DefaultOutcome } from './policy/engine.js';
import { loadPolicies } from './policy/load.js';
import { PolicySet } from './policy/policy-set.js';

export interface GatewayConfig {
  readonly policyPaths: readonly string[];
  readonly admin: { readonly host: string; readonly port: number };
  readonly defaultDecision: DefaultOutcome;
}

export interface Gateway {
  readonly engine: Engine;
  /** Where the admin server listens (the real port when 0 was asked for). */
  readonly adminAddress: { host: string; port: number };
  close(): Promise<void>;
}

/** Wiring only: config → policies → engine → servers. */
export async function startGateway(config: GatewayConfig, log: Logger = pino({ name: 'joch' })): Promise<Gateway> {
  const loaded = loadPolicies(config.policyPaths);
  for (const p of loaded.problems) (p.severity === 'warning' ? log.warn.bind(log) : log.error.bind(log))({ code: p.code }, formatProblem(p));
  if (!loaded.ok) {
    throw new JochError('JOCH_POLICIES_INVALID', `the policies under ${config.policyPaths.join(', ')} are invalid (every problem is logged above)`);
  }
  const set = new PolicySet(loaded.policies);
  const engine = new Engine(set, { defaultDecision: config.defaultDecision });

  let ready = false;
  const admin: FastifyInstance = buildAdminServer({
    ready: () => ready,
    policies: () => ({ count: set.policies.length, version: set.version }),
  });
  await admin.listen({ host: config.admin.host, port: config.admin.port });
  const bound = admin.server.address();
  const adminAddress = { host: config.admin.host, port: typeof bound === 'object' && bound ? bound.port : config.admin.port };
  ready = true;
  log.info({ policies: set.policies.length, policySetVersion: set.version, admin: adminAddress }, 'joch gateway ready');

  return {
    engine,
    adminAddress,
    close: async () => {
      ready = false;
      await admin.close();
    },
  };
}
