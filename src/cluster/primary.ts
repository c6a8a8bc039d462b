import cluster, { type Worker } from 'node:cluster';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { ConfigInput, GatewayConfig } from '../config.js';
import { JochError } from '../errors.js';
import { startControl, type GatewayHooks } from '../main.js';
import { AUDIT_FD, receiveAudit } from './audit-forward.js';
import { ConnectionBalancer, type BalanceTarget } from './balancer.js';
import { ipcChannel, isMessage, type Channel, type ToPrimary, type ToWorker } from './channel.js';
import { serveStore } from './ipc-store.js';
import { mergedMetrics, type Families } from './metrics.js';

export interface ClusterGateway {
  readonly addresses: { grpc: number; http: number; admin: number };
  readonly workers: number;
  /** Graceful: every worker stops accepting and finishes its calls, then the primary closes. */
  close(): Promise<void>;
}

/** How long a worker may take to start, to stop, and to answer a metrics scrape. */
const START_MS = 60_000;
const STOP_MS = 15_000;
const SCRAPE_MS = 2_000;
/** Restart delay after a crash: doubled for each crash soon after a start, up to the maximum. */
const RESTART_MS = 500;
const RESTART_MAX_MS = 30_000;
const STABLE_MS = 30_000;

/** The built worker entry next to this module; from the TypeScript sources, the .ts one (run through tsx, as the primary is). */
function workerEntry(): string {
  return fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url));
}

/** A worker that just exited cannot be answered; its exit is handled on its own. */
function channelOf(worker: Worker): Channel<ToPrimary, ToWorker> {
  return ipcChannel({ connected: () => worker.isConnected(), send: (m, sent) => worker.send(m, undefined, sent), events: worker });
}

interface Running {
  readonly worker: Worker;
  ready: boolean;
  readonly started: number;
  readonly release: () => Promise<void>;
  /** Settles once everything the worker wrote to its audit pipe was read. */
  readonly auditRead: Promise<void>;
}

/** A worker as the balancer sees it: connections go over with their socket. */
function targetOf(r: Running): BalanceTarget {
  return {
    id: r.worker.id,
    ready: () => r.ready && r.worker.isConnected(),
    hand: (edge, socket, done) => {
      r.worker.send({ t: 'conn', edge } satisfies ToWorker, socket, { keepOpen: false }, (err) => done(err ?? null));
    },
  };
}

/**
 * `joch serve --workers N`: this process keeps the state (store, the audit chain, versioned
 * policies), the admin server and the policies it reports; N node:cluster workers serve the
 * gRPC and HTTP authz ports, whose connections this process accepts and hands to the worker
 * with the fewest (src/cluster/balancer.ts), and decide. In memory
 * mode the workers use this process's store over IPC; with Redis they connect themselves.
 * Audit records always come here, so each tenant has one writer. A worker that dies is
 * replaced (after a delay that grows while it keeps dying); /readyz is 200 while every
 * worker is serving; /metrics sums the workers' decision metrics with this process's own.
 */
export async function startCluster(layers: readonly ConfigInput[], config: GatewayConfig, log: Logger, hooks: GatewayHooks = {}): Promise<ClusterGateway> {
  const running = new Map<number, Running>();
  let closing = false;
  let started = false;
  const scrapes = new Map<number, (families: Families) => void>();
  let nextScrape = 1;
  const scrape = (r: Running): Promise<Families> =>
    new Promise((resolve) => {
      const id = nextScrape++;
      const timer = setTimeout(() => {
        scrapes.delete(id);
        log.warn({ worker: r.worker.id }, 'a worker did not answer the metrics scrape in time; its figures are left out');
        resolve([]);
      }, SCRAPE_MS);
      const answer = (families: Families): void => {
        clearTimeout(timer);
        scrapes.delete(id);
        resolve(families);
      };
      scrapes.set(id, answer);
      // A worker that just exited has nothing to report.
      if (!channelOf(r.worker).send({ t: 'metrics', id })) answer([]);
    });
  // This process decides nothing, so it finishes the workers' audit entries on its main thread:
  // an audit thread would only add a copy of every entry through its ring.
  const primary: GatewayConfig = { ...config, state: { ...config.state, audit: { ...config.state.audit, worker: false } } };
  const control = await startControl(primary, log, hooks, {
    workers: true,
    ready: () => started && !closing && running.size === config.workers && [...running.values()].every((r) => r.ready),
    status: { workers: () => [...running.values()].map((r) => ({ id: r.worker.id, pid: r.worker.process.pid, ready: r.ready, connections: balancer.connections(r.worker.id) })) },
    metrics: {
      contentType: Registry.PROMETHEUS_CONTENT_TYPE,
      metrics: async () => mergedMetrics(control.metrics.registry, await Promise.all([...running.values()].map(scrape))),
    },
  });
  const { state, policies, secrets, admin } = control;
  const auditEntries = state.auditEntries;
  if (auditEntries === undefined) {
    await control.close();
    throw new Error('the --workers primary keeps its audit log on its main thread');
  }
  // Each worker gets a pipe of its own for audit entries, at AUDIT_FD (src/cluster/audit-forward.ts).
  cluster.setupPrimary({ exec: workerEntry(), args: [], serialization: 'advanced', stdio: ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'] });
  let restartDelay = RESTART_MS;
  const balancer = new ConnectionBalancer(
    () => [...running.values()].map(targetOf),
    (edge) => log.error({ edge }, 'no worker could take a new connection; it was closed'),
  );

  /** Forks a worker; resolves once it serves, rejects if it fails first. */
  const fork = (): Promise<Running> => {
    const worker = cluster.fork();
    const channel = channelOf(worker);
    // Audit items a worker wrote just before it exited are still read after its exit.
    const auditRead = receiveAudit(worker.process.stdio[AUDIT_FD] as Readable, auditEntries, (count, why) =>
      log.error({ worker: worker.id, count, why }, 'audit entries from a worker that could not be read were left out'),
    );
    const r: Running = { worker, ready: false, started: Date.now(), release: serveStore(channel, state.store), auditRead };
    running.set(worker.id, r);
    return new Promise<Running>((resolve, reject) => {
      const timer = setTimeout(() => {
        worker.kill();
        reject(new JochError('JOCH_WORKER', `worker ${worker.id} did not start within ${START_MS / 1000} s`));
      }, START_MS);
      channel.onMessage((m) => {
        if (!isMessage(m)) return;
        if (m.t === 'hello') channel.send({ t: 'start', layers });
        else if (m.t === 'ready') {
          clearTimeout(timer);
          r.ready = true;
          resolve(r);
        } else if (m.t === 'closed') {
          balancer.closed(worker.id);
        } else if (m.t === 'failed') {
          clearTimeout(timer);
          reject(new JochError('JOCH_WORKER', `worker ${worker.id} cannot start: ${m.error}`));
        } else if (m.t === 'metrics') scrapes.get(m.id)?.(m.metrics);
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        running.delete(worker.id);
        balancer.forget(worker.id);
        void r.release();
        reject(new JochError('JOCH_WORKER', `worker ${worker.id} exited (${signal ?? `code ${code}`}) before it was serving`));
        if (closing || !started) return;
        restartDelay = Date.now() - r.started > STABLE_MS ? RESTART_MS : Math.min(restartDelay * 2, RESTART_MAX_MS);
        log.error({ worker: worker.id, code, signal }, `a worker exited; starting another in ${restartDelay} ms`);
        setTimeout(() => void replace(), restartDelay).unref();
      });
    });
  };
  const replace = async (): Promise<void> => {
    if (closing) return;
    await fork().catch((err: unknown) => log.error((err as Error).message));
  };

  /** Each worker finishes its calls and exits; then what it wrote to its audit pipe is read to the end. */
  const stopWorkers = async (): Promise<void> => {
    await Promise.all(
      [...running.values()].map((r) =>
        new Promise<void>((resolve) => {
          if (r.worker.isDead()) return resolve();
          const kill = setTimeout(() => r.worker.process.kill('SIGKILL'), STOP_MS);
          r.worker.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          channelOf(r.worker).send({ t: 'shutdown' });
        }).then(() => r.auditRead),
      ),
    );
  };

  let ports: { grpc: number; http: number };
  try {
    await Promise.all(Array.from({ length: config.workers }, fork));
    ports = { grpc: await balancer.listen('grpc', config.grpc.host, config.grpc.port), http: await balancer.listen('http', config.http.host, config.http.port) };
    await admin.listen({ host: config.admin.host, port: config.admin.port });
    await policies.followPolicies((defs) => {
      secrets.update(defs);
      void secrets.warm();
    });
  } catch (err) {
    closing = true;
    await balancer.close();
    await stopWorkers();
    await admin.close();
    await control.close();
    throw err;
  }
  started = true;
  const adminBound = admin.server.address();
  const addresses = { ...ports, admin: typeof adminBound === 'object' && adminBound ? adminBound.port : config.admin.port };
  log.info({ workers: config.workers, policies: policies.engine().policies.policies.length, policySetVersion: policies.engine().policies.version, ...addresses }, 'joch gateway ready');
  return {
    addresses,
    workers: config.workers,
    close: async () => {
      closing = true;
      await balancer.close();
      await stopWorkers();
      await policies.close();
      await admin.close();
      await control.close();
    },
  };
}
