import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { registerAdminApi, type AdminApiDeps } from './api.js';

export interface AdminStatus {
  /** True once policies are loaded and every server is bound. */
  ready(): boolean;
  /** What /readyz reports about the loaded policies. */
  policies(): { count: number; version: string };
  /** What /metrics serves (a prom-client Registry, or the workers' metrics merged). */
  readonly metrics: Pick<Registry, 'contentType' | 'metrics'>;
  /** What /readyz reports about the state store (absent: not reported). */
  store?(): { kind: string; available: boolean };
  /** `serve --workers N`: each worker process, whether it serves, and its open connections on the shared ports. */
  workers?(): { id: number; pid: number | undefined; ready: boolean; connections: number }[];
}

/**
 * The operators' HTTP API: health, readiness and metrics, and (given `api`) the /v1 routes
 * for policies, the audit log and Secrets (see api.ts, secrets-routes.ts).
 */
export function buildAdminServer(status: AdminStatus, api?: AdminApiDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = status.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', policies: status.policies(), ...(status.store ? { store: status.store() } : {}), ...(status.workers ? { workers: status.workers() } : {}) });
  });
  app.get('/metrics', async (_req, reply) => reply.type(status.metrics.contentType).send(await status.metrics.metrics()));
  if (api) registerAdminApi(app, api);
  return app;
}
