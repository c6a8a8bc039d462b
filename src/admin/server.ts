import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { secretsRoutes, type SecretAdmin } from './secrets-routes.js';

export interface AdminStatus {
  /** True once policies are loaded and every server is bound. */
  ready(): boolean;
  /** What /readyz reports about the loaded policies. */
  policies(): { count: number; version: string };
  readonly metrics: Registry;
  readonly secrets?: SecretAdmin;
}

/** The operators' HTTP API: health, readiness and metrics for now (apply, audit and the rest join it later). */
export function buildAdminServer(status: AdminStatus): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ready = status.ready();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not-ready', policies: status.policies() });
  });
  app.get('/metrics', async (_req, reply) => reply.type(status.metrics.contentType).send(await status.metrics.metrics()));
  if (status.secrets) void app.register(secretsRoutes, { secrets: status.secrets });
  return app;
}
