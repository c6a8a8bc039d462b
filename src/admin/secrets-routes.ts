import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JochError } from '../errors.js';
import type { Operator, Permission, Scope } from '../identity/rbac.js';
import type { RotationEvent, SecretStatus } from '../secrets/broker.js';
import { SecretCodes } from '../secrets/resource.js';

/** What the admin API needs of the broker: names, timing and rotation; no way to read a value. */
export interface SecretAdmin {
  list(): SecretStatus[];
  rotate(name: string, actor?: string): Promise<RotationEvent>;
}

/** What the /v1 API lends the Secret routes: its authentication, authorization and audit. */
export interface SecretRoutesContext {
  readonly secrets: SecretAdmin;
  /** The gateway's tenant: the one its Secrets belong to. */
  readonly tenant: string;
  /** The gateway's environment; undefined: only bindings covering every environment (`*`) apply. */
  readonly environment: string | undefined;
  /** Authenticates, then authorizes each scope; a failure is audited and thrown (401/403). */
  guard(req: FastifyRequest, permission: Permission | undefined, scopes: readonly Scope[]): Promise<Operator>;
  /** Whether `op` holds `permission` at `scope` (no audit). */
  allowed(op: Operator, permission: Permission, scope: Scope): boolean;
}

type Req = FastifyRequest<{ Querystring: Record<string, string | undefined>; Params: Record<string, string> }>;

/**
 * The Secret routes of the /v1 API (authenticated, authorized and audited like every /v1 call):
 * - `GET /v1/secrets`: the loaded Secrets the operator may read (`read`, viewer and up), with
 *   source kind and cache status;
 * - `POST /v1/secrets/:name/rotate`: drop the cached value here and on every replica, fetch
 *   the new one (`secret.rotate`: operator or admin). 200 with the rotation when the new value
 *   was fetched, 502 `JOCH_SECRET_UNAVAILABLE` when the cache was dropped but the provider failed.
 * The scope is the Secret's namespace (none: a `*` namespace binding) in the gateway's tenant
 * and environment: a Secret lives in one gateway process, not in a stored environment.
 * Answers carry names, timing and provider errors, never a value.
 */
export function registerSecretRoutes(app: FastifyInstance, ctx: SecretRoutesContext): void {
  const scopeOf = (namespace: string | null | '*'): Scope => ({ tenant: ctx.tenant, namespace, environment: ctx.environment ?? '*' });
  const checkTenant = (req: Req): void => {
    const t = req.query.tenant;
    if (t !== undefined && t !== ctx.tenant) throw new JochError('JOCH_BAD_REQUEST', `this gateway's Secrets belong to tenant "${ctx.tenant}", not "${t}"`, {}, 'omit ?tenant= or ask the gateway that serves that tenant');
  };

  app.get('/v1/secrets', async (req: Req, reply) => {
    checkTenant(req);
    const op = await ctx.guard(req, undefined, []);
    const all = ctx.secrets.list();
    const visible = all.filter((s) => ctx.allowed(op, 'read', scopeOf(s.namespace)));
    // Nothing readable: answer (and audit) the denial rather than an empty list.
    if (all.length > 0 && visible.length === 0) await ctx.guard(req, 'read', [scopeOf(all[0]?.namespace ?? null)]);
    return reply.send({ tenant: ctx.tenant, environment: ctx.environment ?? null, secrets: visible });
  });

  app.post('/v1/secrets/:name/rotate', async (req: Req, reply) => {
    checkTenant(req);
    const name = req.params.name ?? '';
    const def = ctx.secrets.list().find((s) => s.name === name);
    // An unknown name is only reported to operators who could rotate every Secret here.
    const op = await ctx.guard(req, 'secret.rotate', [scopeOf(def ? def.namespace : '*')]);
    if (!def) throw new JochError(SecretCodes.unknown, `no Secret named "${name}" is loaded`, {}, 'give the metadata.name of a kind: Secret resource (GET /v1/secrets lists them)');
    const event = await ctx.secrets.rotate(name, op.id);
    if (!event.refreshed) throw new JochError(SecretCodes.unavailable, `secret "${name}": cached values dropped, but the new value could not be fetched: ${event.error ?? 'provider error'}`, {}, 'calls that inject it are denied secret-unavailable until a fetch succeeds; fix the provider and rotate again');
    return reply.send(event);
  });
}
