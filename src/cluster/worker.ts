// A `joch serve --workers N` worker process (forked by src/cluster/primary.ts): serves Envoy's
// gRPC and HTTP authz calls on the connections the primary hands it. State is the primary's
// (memory mode: over IPC) or Redis; audit entries go to the primary, which finishes and chains them.
import cluster from 'node:cluster';
import { Socket } from 'node:net';
import type { Logger } from 'pino';
import { NO_DECISION_RECORDING, RawDecisionRecorder } from '../audit/recorder.js';
import { resolveConfig, type GatewayConfig } from '../config.js';
import { JochError } from '../errors.js';
import { createRedactor } from '../log.js';
import { auditRedaction, authorizerOf, gatewayLogger } from '../main.js';
import { Metrics } from '../metrics.js';
import { OneShotGrants } from '../overrides/grants.js';
import { RuleDisables } from '../overrides/rule-disables.js';
import { acceptingEdges } from '../runtime/edges.js';
import { PolicyRuntime } from '../runtime/policies.js';
import { secretBroker } from '../runtime/secrets.js';
import { tuneV8ForServing } from '../runtime/v8-flags.js';
import { stateEnvironment } from '../state/open.js';
import { openRedisStore } from '../state/redis.js';
import { PolicyRepository } from '../state/policies.js';
import type { Store } from '../state/store.js';
import { auditPipe, ForwardingAudit } from './audit-forward.js';
import { ipcChannel, isMessage, type Channel, type ToPrimary, type ToWorker } from './channel.js';
import { IpcStore } from './ipc-store.js';
import { WORKER_METRICS } from './metrics.js';

// Once the primary is gone nothing can be sent; the store then fails its calls itself (IpcStore.disconnected).
const channel: Channel<ToWorker, ToPrimary> = ipcChannel({
  connected: () => process.connected && process.send !== undefined,
  send: (m, sent) => process.send?.(m, undefined, {}, sent),
  events: process,
});

async function run(config: GatewayConfig, log: Logger): Promise<() => Promise<void>> {
  tuneV8ForServing();
  const metrics = new Metrics();
  const settings = config.state;
  const store: Store = settings.store.kind === 'redis' ? await openRedisStore(settings.store.redis, log) : new IpcStore(channel);
  if (store instanceof IpcStore) process.once('disconnect', () => store.disconnected());
  const redact = createRedactor(auditRedaction(config));
  const audit = new ForwardingAudit(auditPipe(), { redact, log, registry: metrics.registry });
  const environment = stateEnvironment(settings, config.environment);
  const state = {
    repo: new PolicyRepository(store),
    disables: new RuleDisables(store),
    environment,
    grants: new OneShotGrants(store, audit, { tenant: settings.tenant, environment }, metrics.registry),
    recorder: settings.audit.enabled ? new RawDecisionRecorder(audit, settings.tenant) : NO_DECISION_RECORDING,
  };
  const policies = await PolicyRuntime.load(config, state, metrics, log);
  const secrets = secretBroker(config, policies.secrets, { metrics, log, audit, store, workers: true });
  await policies.followDisables();
  await secrets.listen();
  await secrets.warm();
  const edges = acceptingEdges(authorizerOf(config, policies, state, secrets), config, metrics, log);
  // Connections come from the primary's balancer (src/cluster/balancer.ts), each with its socket.
  process.on('message', (m: unknown, socket: unknown) => {
    if (!isMessage(m) || m.t !== 'conn' || !(socket instanceof Socket)) return;
    const edge = (m as { edge?: unknown }).edge;
    if (edge !== 'grpc' && edge !== 'http') return void socket.destroy();
    socket.once('close', () => channel.send({ t: 'closed' }));
    edges.accept(edge, socket);
  });
  await policies.followPolicies((defs) => {
    secrets.update(defs);
    void secrets.warm();
  });
  channel.onMessage((m) => {
    if (isMessage(m) && m.t === 'metrics') {
      void metrics.registry.getMetricsAsJSON().then((all) => channel.send({ t: 'metrics', id: m.id, metrics: all.filter((f) => WORKER_METRICS.has(f.name)) }));
    }
  });
  channel.send({ t: 'ready' });
  return async () => {
    await policies.close();
    await edges.close();
    await audit.close();
    await secrets.close();
    await store.close();
  };
}

function main(): void {
  if (!cluster.isWorker) throw new Error('src/cluster/worker.ts runs as a node:cluster worker of `joch serve --workers N`');
  // The primary decides when to stop (a terminal's Ctrl-C reaches the whole process group).
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  let close: (() => Promise<void>) | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await close?.().catch(() => undefined);
    process.exit(code);
  };
  channel.onMessage((m) => {
    if (!isMessage(m)) return;
    if (m.t === 'start' && close === undefined) {
      let log: Logger | undefined;
      try {
        const config = resolveConfig(...m.layers);
        log = gatewayLogger(config).child({ worker: cluster.worker?.id });
        const logger = log;
        run(config, logger).then(
          (c) => (close = c),
          (err: unknown) => {
            logger.error({ code: err instanceof JochError ? err.code : undefined }, `worker cannot start: ${(err as Error).message}`);
            channel.send({ t: 'failed', error: err instanceof JochError ? err.format() : (err as Error).message });
            void stop(1);
          },
        );
      } catch (err) {
        channel.send({ t: 'failed', error: err instanceof JochError ? err.format() : (err as Error).message });
        void stop(1);
      }
    } else if (m.t === 'shutdown') void stop(0);
  });
  channel.send({ t: 'hello' });
  // The primary went away without saying shutdown: finish what is in flight and go.
  process.once('disconnect', () => void stop(0));
}

main();
