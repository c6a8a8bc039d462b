import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JWK } from 'jose';
import type { Checkpointer } from '../audit/checkpoint.js';
import { verifyCheckpoints } from '../audit/checkpoint.js';
import type { AuditJournal } from '../audit/log.js';
import { toOcsf } from '../audit/ocsf.js';
import type { Actor, AuditEvent, AuditRecord, AuditType } from '../audit/record.js';
import { JochError } from '../errors.js';
import type { OperatorAuth } from '../identity/operators.js';
import type { Operator, Permission, Scope } from '../identity/rbac.js';
import { compileSources } from '../policy/load.js';
import { parseYaml } from '../policy/yaml-source.js';
import { diffJson, type PolicyRef, type PolicyRepository } from '../state/policies.js';
import { checkTenant, isValidTenant } from '../state/store.js';
import { registerOverrideRoutes, type OverrideAdmin } from './overrides-routes.js';
import { registerSecretRoutes, type SecretAdmin } from './secrets-routes.js';

export interface AdminApiDeps {
  readonly repo: PolicyRepository;
  readonly audit: AuditJournal;
  readonly auth: OperatorAuth;
  readonly checkpoints?: { readonly checkpointer: Checkpointer; readonly publicJwk: JWK };
  /** Tenant of calls that name none (default `default`). */
  readonly defaultTenant?: string;
  /** Version in OCSF metadata.product.version. */
  readonly productVersion?: string;
  /** The gateway's Secrets (`/v1/secrets`); absent: no Secret routes. */
  readonly secrets?: SecretAdmin;
  /** The gateway's environment: the scope of its Secrets, the default one of rule disables. */
  readonly environment?: string;
  /** Approvals, break-glass overrides and rule disables (`/v1/approvals`, `/v1/overrides`); absent: no such routes. */
  readonly overrides?: OverrideAdmin;
}

/** HTTP status per stable error code; anything else is a 500 with a generic message. */
const STATUS: Readonly<Record<string, number>> = {
  JOCH_AUTH_REQUIRED: 401,
  JOCH_AUTH_INVALID: 401,
  JOCH_AUTH_NOT_CONFIGURED: 401,
  JOCH_FORBIDDEN: 403,
  JOCH_NOT_FOUND: 404,
  JOCH_BAD_REQUEST: 400,
  JOCH_TENANT_INVALID: 400,
  JOCH_ENVIRONMENT_INVALID: 400,
  JOCH_STORE_NAME: 400,
  JOCH_STORE_RANGE: 400,
  JOCH_PROMOTE_SAME: 400,
  JOCH_ROLLBACK_VERSION: 409,
  JOCH_POLICY_INVALID: 422,
  JOCH_AUDIT_CHECKPOINT: 422,
  JOCH_STORE_UNAVAILABLE: 503,
  JOCH_AUTH_UNAVAILABLE: 503,
  JOCH_SECRET_UNKNOWN: 404,
  JOCH_SECRET_UNAVAILABLE: 502,
  JOCH_NOT_PENDING: 409,
  JOCH_ALREADY_DECIDED: 409,
  JOCH_LIMIT: 409,
};

type Req = FastifyRequest<{ Querystring: Record<string, string | undefined>; Params: Record<string, string>; Body: unknown }>;

interface Sources {
  sources: { file: string; text: string }[];
}

/**
 * The operators' API under /v1: validate, apply, list, get, history, diff, rollback and
 * promote policies; query, export (JSON Lines or OCSF) and verify the audit log. Every call is
 * authenticated (OIDC bearer token, or the static admin token of the embedded default), checked
 * against role bindings per tenant, namespace and environment, and audited (denials too).
 * Errors are `{"error": {"code", "message", "hint"?, "problems"?}}` with a stable code.
 */
export function registerAdminApi(app: FastifyInstance, deps: AdminApiDeps): void {
  const operators = new WeakMap<FastifyRequest, Operator>();
  const denied = new WeakSet<FastifyRequest>();
  const defaultTenant = deps.defaultTenant ?? 'default';
  const tenantOf = (req: Req): string => checkTenant(req.query.tenant ?? defaultTenant);

  const record = (req: FastifyRequest, type: AuditType, data: Record<string, unknown>, tenant?: string): void => {
    const q = req.query as Record<string, unknown>;
    const t = tenant ?? (isValidTenant(q.tenant) ? q.tenant : defaultTenant);
    const op = operators.get(req);
    const actor: Actor = op ? { type: 'operator', id: op.id, issuer: op.issuer } : { type: 'operator', id: 'anonymous' };
    const e: AuditEvent = { tenant: t, type, actor, data };
    deps.audit.record(e);
  };

  /** Authenticates, then authorizes each scope; a failure is audited and answered 401/403. */
  const guard = async (req: FastifyRequest, permission: Permission | undefined, scopes: readonly Scope[]): Promise<Operator> => {
    try {
      const op = await deps.auth.authenticate(req.headers.authorization);
      operators.set(req, op);
      if (permission) for (const s of scopes) deps.auth.authorize(op, permission, s);
      return op;
    } catch (err) {
      if (err instanceof JochError && (err.code.startsWith('JOCH_AUTH') || err.code === 'JOCH_FORBIDDEN')) {
        denied.add(req);
        record(req, 'admin.denied', { method: req.method, route: req.routeOptions.url, code: err.code, reason: err.message, permission, ip: req.ip });
      }
      throw err;
    }
  };

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof JochError) {
      const status = STATUS[err.code] ?? 500;
      const body = status === 500 ? { code: 'JOCH_INTERNAL', message: 'internal error' } : { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
      return reply.code(status).send({ error: body });
    }
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode !== undefined && e.statusCode < 500) return reply.code(e.statusCode).send({ error: { code: 'JOCH_BAD_REQUEST', message: e.message ?? 'bad request' } });
    return reply.code(500).send({ error: { code: 'JOCH_INTERNAL', message: 'internal error' } });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'JOCH_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }));

  app.addHook('onResponse', async (req, reply) => {
    if (!req.url.startsWith('/v1/') || denied.has(req)) return;
    record(req, 'admin.request', { method: req.method, route: req.routeOptions.url ?? req.url.split('?')[0], status: reply.statusCode, ip: req.ip });
  });

  const problemsError = (reply: FastifyReply, problems: unknown[]): FastifyReply => reply.code(422).send({ error: { code: 'JOCH_POLICY_INVALID', message: `${problems.length} problem(s) in the policies`, problems } });

  app.post('/v1/policies/validate', async (req: Req, reply) => {
    await guard(req, undefined, []);
    const { sources } = readSources(req.body);
    const r = compileSources(sources);
    return reply.send({ ok: r.ok, policies: r.policies.map((p) => ({ namespace: p.namespace ?? null, name: p.name })), problems: r.problems });
  });

  app.post('/v1/policies/apply', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    const environment = required(req.query.environment, 'environment');
    const { sources } = readSources(req.body);
    const namespaces = new Set(sources.flatMap((s) => parseYaml(s.file, s.text).documents.map((d) => (d.value as { metadata?: { namespace?: string } } | null)?.metadata?.namespace ?? null)));
    const op = await guard(req, 'apply', [...namespaces].map((namespace) => ({ tenant, namespace, environment })));
    const result = await deps.repo.apply(tenant, environment, sources, op.id);
    if (!result.ok) return problemsError(reply, result.problems);
    record(req, 'policy.apply', { environment, files: sources.map((s) => s.file), applied: result.applied }, tenant);
    return reply.send({ tenant, environment, applied: result.applied, warnings: result.warnings });
  });

  app.get('/v1/policies', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    const environment = required(req.query.environment, 'environment');
    const op = await guard(req, undefined, []);
    const all = await deps.repo.current(tenant, environment);
    const visible = all.filter((v) => allowed(deps.auth, op, 'read', { tenant, namespace: v.namespace, environment }));
    if (all.length > 0 && visible.length === 0) await guard(req, 'read', [{ tenant, namespace: all[0]?.namespace ?? null, environment }]);
    return reply.send({ tenant, environment, policies: visible.map(({ resource: _r, ...meta }) => meta) });
  });

  app.get('/v1/policies/:namespace/:name', async (req: Req, reply) => {
    const { tenant, environment, ref } = target(req, tenantOf);
    await guard(req, 'read', [{ tenant, namespace: ref.namespace, environment }]);
    const v = await deps.repo.get(tenant, environment, ref, optionalInt(req.query.version, 'version'));
    if (!v) throw new JochError('JOCH_NOT_FOUND', `policy ${ref.namespace ?? '_'}/${ref.name} has no such version in ${environment}`);
    return reply.send(v);
  });

  app.get('/v1/policies/:namespace/:name/history', async (req: Req, reply) => {
    const { tenant, environment, ref } = target(req, tenantOf);
    await guard(req, 'read', [{ tenant, namespace: ref.namespace, environment }]);
    const versions = await deps.repo.history(tenant, environment, ref);
    return reply.send({ versions: versions.map(({ resource: _r, ...meta }) => meta) });
  });

  app.get('/v1/policies/:namespace/:name/diff', async (req: Req, reply) => {
    const { tenant, environment, ref } = target(req, tenantOf);
    const against = req.query.against;
    await guard(req, 'read', [{ tenant, namespace: ref.namespace, environment }, ...(against ? [{ tenant, namespace: ref.namespace, environment: against }] : [])]);
    const to = await deps.repo.get(tenant, environment, ref, optionalInt(req.query.to, 'to'));
    if (!to) throw new JochError('JOCH_NOT_FOUND', `policy ${ref.namespace ?? '_'}/${ref.name} has no such version in ${environment}`);
    const from = against !== undefined ? await deps.repo.get(tenant, against, ref) : await deps.repo.get(tenant, environment, ref, optionalInt(req.query.from, 'from') ?? to.version - 1);
    return reply.send({
      from: from ? { environment: from.environment, version: from.version } : null,
      to: { environment: to.environment, version: to.version },
      changes: diffJson(from?.resource ?? null, to.resource),
    });
  });

  app.post('/v1/policies/:namespace/:name/rollback', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    const ref = refOf(req);
    const body = object(req.body);
    const environment = required(body.environment, 'environment');
    const op = await guard(req, 'rollback', [{ tenant, namespace: ref.namespace, environment }]);
    const outcome = await deps.repo.rollback(tenant, environment, ref, op.id, optionalInt(body.version, 'version'));
    record(req, 'policy.rollback', { environment, ...outcome }, tenant);
    return reply.send(outcome);
  });

  app.post('/v1/policies/:namespace/:name/promote', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    const ref = refOf(req);
    const body = object(req.body);
    const from = required(body.from, 'from');
    const to = required(body.to, 'to');
    const op = await guard(req, 'read', [{ tenant, namespace: ref.namespace, environment: from }]);
    deps.auth.authorize(op, 'promote', { tenant, namespace: ref.namespace, environment: to });
    const outcome = await deps.repo.promote(tenant, ref, from, to, op.id, optionalInt(body.version, 'version'));
    record(req, 'policy.promote', { from, to, ...outcome }, tenant);
    return reply.send(outcome);
  });

  const auditScope = (tenant: string): Scope => ({ tenant, namespace: '*', environment: '*' });

  app.get('/v1/audit', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    await guard(req, 'audit.read', [auditScope(tenant)]);
    const from = optionalInt(req.query.from, 'from') ?? 1;
    const limit = Math.min(optionalInt(req.query.limit, 'limit') ?? 100, 10_000);
    const types = req.query.type?.split(',');
    const records = (await deps.audit.read(tenant, from, limit)).filter((r) => !types || types.includes(r.type));
    return reply.send({ tenant, records });
  });

  app.get('/v1/audit/export', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    await guard(req, 'audit.read', [auditScope(tenant)]);
    const format = req.query.format ?? 'jsonl';
    if (format !== 'jsonl' && format !== 'ocsf') throw new JochError('JOCH_BAD_REQUEST', `format must be jsonl or ocsf, not "${format}"`);
    const lines: string[] = [];
    for (let from = optionalInt(req.query.from, 'from') ?? 1; ; ) {
      const page: AuditRecord[] = await deps.audit.read(tenant, from, 5000);
      for (const r of page) {
        if (format === 'jsonl') lines.push(JSON.stringify(r));
        else for (const e of toOcsf(r, deps.productVersion)) lines.push(JSON.stringify(e));
      }
      if (page.length < 5000) break;
      from += page.length;
    }
    return reply.type('application/x-ndjson').send(lines.length ? `${lines.join('\n')}\n` : '');
  });

  app.get('/v1/audit/verify', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    await guard(req, 'audit.read', [auditScope(tenant)]);
    const cps = deps.checkpoints ? await verifyCheckpoints(tenant, await deps.checkpoints.checkpointer.list(tenant), deps.checkpoints.publicJwk) : { verified: [], otherKeys: 0 };
    return reply.send({ tenant, ...(await deps.audit.verify(tenant, cps.verified)), checkpointsByOtherKeys: cps.otherKeys });
  });

  app.get('/v1/audit/checkpoints', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    await guard(req, 'audit.read', [auditScope(tenant)]);
    if (!deps.checkpoints) throw new JochError('JOCH_NOT_FOUND', 'audit checkpoints are not enabled');
    return reply.send({ tenant, publicJwk: deps.checkpoints.publicJwk, checkpoints: await deps.checkpoints.checkpointer.list(tenant) });
  });

  app.post('/v1/audit/checkpoints', async (req: Req, reply) => {
    const tenant = tenantOf(req);
    await guard(req, 'audit.read', [auditScope(tenant)]);
    if (!deps.checkpoints) throw new JochError('JOCH_NOT_FOUND', 'audit checkpoints are not enabled');
    await deps.audit.flush(5000);
    return reply.send({ tenant, checkpoint: (await deps.checkpoints.checkpointer.checkpoint(tenant)) ?? null });
  });

  if (deps.overrides) {
    registerOverrideRoutes(app, { overrides: deps.overrides, audit: deps.audit, tenantOf: (req) => tenantOf(req as Req), guard, allowed: (op, permission, scope) => allowed(deps.auth, op, permission, scope) });
  }
  if (deps.secrets) {
    registerSecretRoutes(app, { secrets: deps.secrets, tenant: defaultTenant, environment: deps.environment, guard, allowed: (op, permission, scope) => allowed(deps.auth, op, permission, scope) });
  }
}

function allowed(auth: OperatorAuth, op: Operator, permission: Permission, scope: Scope): boolean {
  try {
    auth.authorize(op, permission, scope);
    return true;
  } catch {
    return false;
  }
}

function object(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new JochError('JOCH_BAD_REQUEST', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function readSources(body: unknown): Sources {
  const sources = object(body).sources;
  if (!Array.isArray(sources) || sources.length === 0 || !sources.every((s) => s !== null && typeof s === 'object' && typeof (s as { file?: unknown }).file === 'string' && typeof (s as { text?: unknown }).text === 'string')) {
    throw new JochError('JOCH_BAD_REQUEST', 'the body must be {"sources": [{"file": NAME, "text": YAML}, ...]} with at least one source');
  }
  return { sources: sources as Sources['sources'] };
}

function required(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new JochError('JOCH_BAD_REQUEST', `"${name}" is required`);
  return value;
}

function optionalInt(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new JochError('JOCH_BAD_REQUEST', `"${name}" must be a whole number ≥ 1, not ${JSON.stringify(value)}`);
  return n;
}

function refOf(req: Req): PolicyRef {
  const ns = req.params.namespace ?? '_';
  return { namespace: ns === '_' ? null : ns, name: required(req.params.name, 'name') };
}

function target(req: Req, tenantOf: (r: Req) => string): { tenant: string; environment: string; ref: PolicyRef } {
  return { tenant: tenantOf(req), environment: required(req.query.environment, 'environment'), ref: refOf(req) };
}
