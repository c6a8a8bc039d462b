import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AdminApiDeps } from '../admin/api.js';
import { Checkpointer, checkpointKey } from '../audit/checkpoint.js';
import type { EntryTaker } from '../audit/entries.js';
import type { AuditJournal } from '../audit/log.js';
import { openAuditLog } from '../audit/open-log.js';
import { AuditDecisionRecorder, NO_DECISION_RECORDING, RawDecisionRecorder, type DecisionRecorder } from '../audit/recorder.js';
import { AuditThread } from '../audit/thread.js';
import { JochError } from '../errors.js';
import { createRedactor, rememberingRedactor, type RedactorOptions } from '../log.js';
import { OidcVerifier } from '../identity/oidc.js';
import { OperatorAuth } from '../identity/operators.js';
import { OneShotGrants } from '../overrides/grants.js';
import { knownSecrets } from '../secrets/known.js';
import { checkEnvironment, RuleDisables } from '../overrides/rule-disables.js';
import { MemoryStore } from './memory.js';
import { PolicyRepository } from './policies.js';
import { openRedisStore } from './redis.js';
import type { StateSettings } from './settings.js';
import type { Store } from './store.js';

/** The gateway's state: store, audit log, decision recorder, versioned policies, admin API dependencies. */
export interface GatewayState {
  readonly store: Store;
  readonly audit: AuditJournal;
  /** The hot path's audit call (a no-op when audit is off). */
  readonly recorder: DecisionRecorder;
  /** Where a `--workers` worker's audit entries are taken (src/audit/entries.ts): the log in this thread; absent with the audit thread. */
  readonly auditEntries: EntryTaker | undefined;
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

/**
 * Opens the store from the settings (Redis: waits up to 5 s for a first connection, then
 * goes on and reconnects by itself: deciding never waits for Redis), the audit log with its
 * sinks and checkpoints, and operator authentication.
 */
export async function openState(
  settings: StateSettings,
  log: Logger,
  registry: Registry,
  options: { productVersion?: string; redaction?: Omit<RedactorOptions, 'known'>; environment?: string } = {},
): Promise<GatewayState> {
  const { productVersion = '0.0.0', redaction = {} } = options;
  const redact = createRedactor(redaction);
  const environment = stateEnvironment(settings, options.environment);
  const a = settings.audit;
  // What can fail on bad settings comes first: nothing is open yet.
  const key = await checkpointKey(settings.audit.checkpointKeyFile);
  const adminAuth = settings.adminAuth;
  let token = adminAuth.token;
  if (token === undefined && adminAuth.tokenFile !== undefined) {
    token = (await readFile(adminAuth.tokenFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new JochError('JOCH_CONFIG', `cannot read adminAuth.tokenFile ${adminAuth.tokenFile}: ${err.code ?? err.message}`, { file: adminAuth.tokenFile });
    })).trim();
  }
  const auth = new OperatorAuth({ ...(adminAuth.oidc ? { oidc: new OidcVerifier(adminAuth.oidc) } : {}), ...(token ? { staticToken: token } : {}), bindings: adminAuth.bindings ?? [] });
  if (adminAuth.oidc && token) log.warn('adminAuth: OIDC is configured, so the static admin token is off');
  const store: Store = settings.store.kind === 'redis' ? await openRedisStore(settings.store.redis, log) : new MemoryStore(a.maxHeldInMemory);
  let audit: AuditJournal;
  let recorder: DecisionRecorder = NO_DECISION_RECORDING;
  let auditEntries: EntryTaker | undefined;
  if (a.worker) {
    const thread = new AuditThread({ store: settings.store, ...(a.file !== undefined ? { file: a.file } : {}), maxBuffered: a.maxBuffered, maxHeldInMemory: a.maxHeldInMemory, batchSize: a.batchSize, redaction, logLevel: log.level }, log, registry, redact);
    await thread.whenReady().catch(async (err: Error) => {
      await thread.close(0);
      await store.close();
      throw err;
    });
    audit = thread;
    if (a.enabled) recorder = new RawDecisionRecorder(thread, settings.tenant);
  } else {
    const inline = await openAuditLog(store, a, { log, registry, redact });
    audit = inline;
    const remembering = rememberingRedactor(redact);
    if (a.enabled) recorder = new AuditDecisionRecorder(inline, settings.tenant, remembering);
    // Workers' entries carry the secret values they learn: this process's redaction knows them from then on.
    auditEntries = { audit: inline, redact: remembering, known: knownSecrets };
  }
  const checkpointer = new Checkpointer(audit, store, key, log);
  if (settings.audit.enabled && settings.audit.checkpointIntervalSeconds > 0) checkpointer.start(settings.audit.checkpointIntervalSeconds * 1000);

  const repo = new PolicyRepository(store);
  const grants = new OneShotGrants(store, audit, { tenant: settings.tenant, environment }, registry);
  const disables = new RuleDisables(store);
  return {
    store,
    audit,
    grants,
    disables,
    environment,
    recorder,
    auditEntries,
    repo,
    admin: { repo, audit, auth, checkpoints: { checkpointer, publicJwk: key.publicJwk }, defaultTenant: settings.tenant, productVersion, overrides: { grants, disables, environment } },
    close: async () => {
      checkpointer.stop();
      await audit.close(5000);
      await store.close();
    },
  };
}
