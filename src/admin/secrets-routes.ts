import type { FastifyPluginAsync } from 'fastify';
import { JochError } from '../errors.js';
import type { RotationEvent, SecretStatus } from '../secrets/broker.js';
import { SecretCodes } from '../secrets/resource.js';

/** What the admin API needs of the broker: names, timing and rotation; no way to read a value. */
export interface SecretAdmin {
  list(): SecretStatus[];
  rotate(name: string, actor?: string): Promise<RotationEvent>;
}

/**
 * Admin API for Secrets (a fastify plugin, registered by src/admin/server.ts):
 * - `GET /secrets`: every loaded Secret with its source kind and cache status;
 * - `POST /secrets/:name/rotate`: drop the cached value here and on every replica, fetch the
 *   new one, audit it (what `joch secret rotate NAME` calls). 200 when the new value was
 *   fetched, 502 when the cache was dropped but the provider failed, 404 for an unknown name.
 * Answers carry names, timing and provider errors, never a value.
 */
export const secretsRoutes: FastifyPluginAsync<{ secrets: SecretAdmin }> = async (app, { secrets }) => {
  app.get('/secrets', async () => ({ secrets: secrets.list() }));
  app.post<{ Params: { name: string } }>('/secrets/:name/rotate', async (req, reply) => {
    const actor = req.headers['x-joch-operator'];
    try {
      const event = await secrets.rotate(req.params.name, typeof actor === 'string' && actor !== '' ? actor : undefined);
      return reply.code(event.refreshed ? 200 : 502).send(event);
    } catch (err) {
      if (err instanceof JochError && err.code === SecretCodes.unknown) return reply.code(404).send({ error: err.message, code: err.code });
      throw err;
    }
  });
};
