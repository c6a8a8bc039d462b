import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AdminApiDeps } from '../admin/api.js';
import { Checkpointer, checkpointKey } from '../audit/checkpoint.js';
import { JsonlFileSink, loadJsonlInto } from '../audit/file-sink.js';
import { INLINE_CHAINER, WorkerChainer } from '../audit/chainer.js';
import { AuditLog } from '../audit/log.js';
import type { TextRedactor } from '../audit/record.js';
import { AuditDecisionRecorder, NO_DECISION_RECORDING, type DecisionRecorder } from '../audit/recorder.js';
import { JochError } from '../errors.js';
import { OidcVerifier } from '../identity/oidc.js';
import { OperatorAuth } from '../identity/operators.js';
import { OneShotGrants } from '../overrides/grants.js';
import { checkEnvironment, RuleDisables } from '../overrides/rule-disables.js';
import { MemoryStore } from './memory.js';
import { PolicyRepository } from './policies.js';
import { RedisStore } from './redis.js';
import type { StateSettings } from './settings.js';
import type { Store } from './store.js';

/** The gateway's state: store, audit log, decision recorder, versioned policies, admin API dependencies. */
export interface GatewayState {
  readonly store: Store;
  readonly audit: AuditLog;
  /** The hot path's audit call (a no-op when audit is off). */
  readonly recorder: DecisionRecorder;
  readonly repo: PolicyRepository;
  /** One-shot approvals and break-glass overrides (the hot path asks it about denials). */
  readonly grants: OneShotGrants;
  /** Emergency rule disables of the gateway's tenant and environment. */
  readonly disables: RuleDisables;
  /** The environment the gateway's denials and rule disables belong to. */
  readonly environment: string;
  readonly admin: AdminApiDeps;
  /** Flushes the audit log (bounded wait), stops checkpoints, closes the store. */
  close(): Promise<void>;
}

/** Denials and rule disables need an environment: the configured one, the stored policies' one, else `default`. */
export function stateEnvironment(settings: StateSettings, configured: string | undefined): string {
  return checkEnvironment(configured ?? (settings.policySource.kind === 'store' ? settings.policySource.environment : 'default'));
}

/** Connects to Redis, waiting up to 5 s (then going on: it reconnects by itself); availability changes are logged. */
export async function openRedisStore(options: ConstructorParameters<typeof RedisStore>[0], log: Logger): Promise<RedisStore> {
  const redis = new RedisStore(options);
  redis.onAvailability((up) => (up ? log.info('state store (Redis) connected') : log.error('state store (Redis) unavailable; deciding from the policies held, holding audit records, reconnecting')));
  await redis.ready(5000).catch(() => log.error('state store (Redis) not reachable at start; going on and reconnecting'));
  return redis;
}

/**
 * Opens the store from the settings (Redis: waits up to 5 s for a first connection, then
 * goes on and reconnects by itself: deciding never waits for Redis), the audit log with its
 * sinks and checkpoints, and operator authentication.
 */
export async function openState(settings: StateSettings, log: Logger, registry: Registry, options: { productVersion?: string; redact?: TextRedactor; environment?: string } = {}): Promise<GatewayState> {
  const { productVersion = '0.0.0', redact } = options;
  const environment = stateEnvironment(settings, options.environment);
  let store: Store;
  if (settings.store.kind === 'redis') {
    store = await openRedisStore(settings.store.redis, log);
  } else {
    store = new MemoryStore(settings.audit.maxHeldInMemory);
    if (settings.audit.file !== undefined) {
      const n = await loadJsonlInto(settings.audit.file, store);
      if (n > 0) log.info({ records: n, folder: settings.audit.file }, 'audit history loaded');
    }
  }
  const audit = new AuditLog({
    store,
    log,
    registry,
    maxBuffered: settings.audit.maxBuffered,
    batchSize: settings.audit.batchSize,
    // The worker gets batches of up to 10 ms: its fixed cost per message then stays small.
    ...(settings.audit.worker ? { chainer: new WorkerChainer(log), batchWindowMs: 10 } : { chainer: INLINE_CHAINER }),
    ...(redact !== undefined ? { redact } : {}),
    ...(settings.store.kind === 'memory' && settings.audit.file !== undefined ? { sink: new JsonlFileSink(settings.audit.file) } : {}),
  });
  const key = await checkpointKey(settings.audit.checkpointKeyFile);
  const checkpointer = new Checkpointer(audit, store, key, log);
  if (settings.audit.enabled && settings.audit.checkpointIntervalSeconds > 0) checkpointer.start(settings.audit.checkpointIntervalSeconds * 1000);

  const a = settings.adminAuth;
  let token = a.token;
  if (token === undefined && a.tokenFile !== undefined) {
    token = (await readFile(a.tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new JochError('JOCH_CONFIG', `cannot read adminAuth.tokenFile ${a.tokenFile}: ${err.code ?? err.message}`, { file: a.tokenFile });
    })).trim();
  }
  const auth = new OperatorAuth({ ...(a.oidc ? { oidc: new OidcVerifier(a.oidc) } : {}), ...(token ? { staticToken: token } : {}), bindings: a.bindings ?? [] });
  if (a.oidc && token) log.warn('adminAuth: OIDC is configured, so the static admin token is off');
  const repo = new PolicyRepository(store);
  const grants = new OneShotGrants(store, audit, { tenant: settings.tenant, environment }, registry);
  const disables = new RuleDisables(store);
  return {
    store,
    audit,
    grants,
    disables,
    environment,
    recorder: settings.audit.enabled ? new AuditDecisionRecorder(audit, settings.tenant, redact) : NO_DECISION_RECORDING,
    repo,
    admin: { repo, audit, auth, checkpoints: { checkpointer, publicJwk: key.publicJwk }, defaultTenant: settings.tenant, productVersion, overrides: { grants, disables, environment } },
    close: async () => {
      checkpointer.stop();
      await audit.close(5000);
      await store.close();
    },
  };
}
