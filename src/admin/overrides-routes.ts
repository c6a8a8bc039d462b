import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../audit/record.js';
import type { AuditJournal } from '../audit/log.js';
import { JochError } from '../errors.js';
import type { Operator, Permission, Scope } from '../identity/rbac.js';
import { formatDuration, parseDuration } from '../overrides/duration.js';
import { checkDecisionId, GRANT_LIMITS, type GrantKind, type OneShotGrants } from '../overrides/grants.js';
import { checkEnvironment, DISABLE_LIMITS, type RuleDisables, type RuleRef } from '../overrides/rule-disables.js';

/** What the gateway lends the override routes. */
export interface OverrideAdmin {
  readonly grants: OneShotGrants;
  readonly disables: RuleDisables;
  /** The gateway's environment: where its denials happen, the default of the rule routes' `environment`. */
  readonly environment: string;
  /** Whether this gateway holds the rule (environment: the gateway's own); absent: not checked. */
  knowsRule?(tenant: string, ref: RuleRef): boolean;
}

export interface OverrideRoutesContext {
  readonly overrides: OverrideAdmin;
  readonly audit: AuditJournal;
  tenantOf(req: FastifyRequest): string;
  guard(req: FastifyRequest, permission: Permission | undefined, scopes: readonly Scope[]): Promise<Operator>;
  /** Whether `op` holds `permission` at `scope` (no audit). */
  allowed(op: Operator, permission: Permission, scope: Scope): boolean;
}

type Req = FastifyRequest<{ Querystring: Record<string, string | undefined>; Params: Record<string, string>; Body: unknown }>;

/**
 * Approvals, break-glass overrides and emergency rule disables (authenticated, authorized and
 * audited like every /v1 call; each outcome is also its own `approval` or `override` record):
 * - `GET /v1/approvals?limit=N`: the open denials (oldest first) this operator may decide,
 *   each with the `actions` it may take (approve and reject a pending one, override);
 * - `POST /v1/approvals` {decisionId, verdict?: approve|reject, reason, ttl?}: `approve`
 *   (approver, admin) in the denied decision's policy namespace and environment;
 * - `POST /v1/overrides` {decisionId, reason, ttl?}: `override` (break-glass only);
 * - `POST /v1/overrides/rules` {policy, rule, reason, followUp, ttl | until, environment?}:
 *   `rule.disable` (admin); `GET /v1/overrides/rules` lists (read); `DELETE
 *   /v1/overrides/rules/:namespace/:name/:rule` ends one early (rule.disable).
 */
export function registerOverrideRoutes(app: FastifyInstance, ctx: OverrideRoutesContext): void {
  const { grants, disables } = ctx.overrides;

  const decide = async (req: Req, kind: GrantKind, permission: Permission): Promise<unknown> => {
    const tenant = ctx.tenantOf(req);
    const body = object(req.body);
    const decisionId = checkDecisionId(body.decisionId);
    const verdict = kind === 'override' ? 'approve' : (body.verdict ?? 'approve');
    if (verdict !== 'approve' && verdict !== 'reject') throw new JochError('JOCH_BAD_REQUEST', `"verdict" must be approve or reject, not ${JSON.stringify(verdict)}`);
    const reason = text(body.reason, 'reason', GRANT_LIMITS.maxReason);
    const ttlMs = body.ttl === undefined ? GRANT_LIMITS.defaultGrantTtlMs : parseDuration('ttl', body.ttl, GRANT_LIMITS.maxGrantTtlMs);
    const ticket = await grants.ticket(tenant, decisionId);
    const decided = ticket ? undefined : await grants.decided(tenant, decisionId);
    const known = ticket ?? decided?.ticket;
    // An unknown id is only reported to operators who could act in every namespace and environment.
    const op = await ctx.guard(req, permission, [known ? { tenant, namespace: known.policyNamespace, environment: known.environment } : { tenant, namespace: '*', environment: '*' }]);
    if (decided) throw new JochError('JOCH_ALREADY_DECIDED', `decision ${decisionId} was already ${decided.verdict} by ${decided.by} at ${decided.at}`);
    if (!ticket) {
      throw new JochError('JOCH_NOT_FOUND', `no open denial with decision id ${decisionId}`, {}, `ids stay open for ${formatDuration(GRANT_LIMITS.ticketTtlMs)} after the denial and are decided once; only denials made by a policy rule (ext_authz, ext_proc bodies) can be ${kind === 'approval' ? 'approved' : 'overridden'}`);
    }
    return grants.grant(ticket, kind, verdict === 'approve', actorOf(op), reason, ttlMs);
  };

  app.get('/v1/approvals', async (req: Req) => {
    const tenant = ctx.tenantOf(req);
    const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new JochError('JOCH_BAD_REQUEST', `"limit" must be a whole number from 1 to 1000, not ${JSON.stringify(req.query.limit)}`);
    const op = await ctx.guard(req, undefined, []);
    const open = await grants.open(tenant, limit);
    // What this operator could decide: approve a pending one, or override any (break-glass).
    const actions = (t: (typeof open)[number]): string[] => {
      const scope = { tenant, namespace: t.policyNamespace, environment: t.environment };
      return [...(t.pending && ctx.allowed(op, 'approve', scope) ? ['approve', 'reject'] : []), ...(ctx.allowed(op, 'override', scope) ? ['override'] : [])];
    };
    const visible = open.flatMap((t) => {
      const can = actions(t);
      return can.length > 0 ? [{ ...t, actions: can, expiresAt: new Date(Date.parse(t.deniedAt) + GRANT_LIMITS.ticketTtlMs).toISOString() }] : [];
    });
    // Nothing this operator may decide: answer (and audit) the denial rather than an empty list.
    const first = open[0];
    if (first !== undefined && visible.length === 0) await ctx.guard(req, first.pending ? 'approve' : 'override', [{ tenant, namespace: first.policyNamespace, environment: first.environment }]);
    return { tenant, open: visible };
  });
  app.post('/v1/approvals', async (req: Req) => decide(req, 'approval', 'approve'));
  app.post('/v1/overrides', async (req: Req) => decide(req, 'override', 'override'));

  const environmentOf = (value: unknown): string => checkEnvironment((value ?? ctx.overrides.environment) as string);

  app.post('/v1/overrides/rules', async (req: Req) => {
    const tenant = ctx.tenantOf(req);
    const body = object(req.body);
    const environment = environmentOf(body.environment);
    const ref = ruleRef(body.policy, body.rule);
    const reason = text(body.reason, 'reason', DISABLE_LIMITS.maxReason);
    const followUp = text(body.followUp, 'followUp', DISABLE_LIMITS.maxFollowUp);
    const until = untilOf(body.ttl, body.until);
    const op = await ctx.guard(req, 'rule.disable', [{ tenant, namespace: ref.namespace, environment }]);
    if (ctx.overrides.knowsRule && environment === ctx.overrides.environment && !ctx.overrides.knowsRule(tenant, ref)) {
      throw new JochError('JOCH_NOT_FOUND', `policy ${ref.namespace ?? '_'}/${ref.name} has no rule "${ref.ruleId}" on this gateway`, {}, 'give metadata.namespace/metadata.name of the policy and the rule id shown in decisions (ruleId)');
    }
    const d = await disables.disable({ tenant, environment, policyNamespace: ref.namespace, policyName: ref.name, ruleId: ref.ruleId, reason, followUp, disabledBy: op.id, until });
    ctx.audit.record({ tenant, type: 'override', actor: actorOf(op), data: { action: 'rule.disabled', ...d } });
    return d;
  });

  app.get('/v1/overrides/rules', async (req: Req) => {
    const tenant = ctx.tenantOf(req);
    const environment = environmentOf(req.query.environment);
    await ctx.guard(req, 'read', [{ tenant, namespace: '*', environment }]);
    return { tenant, environment, disabled: await disables.active(tenant, environment) };
  });

  app.delete('/v1/overrides/rules/:namespace/:name/:rule', async (req: Req) => {
    const tenant = ctx.tenantOf(req);
    const environment = environmentOf(req.query.environment);
    const ns = req.params.namespace ?? '_';
    const ref = ruleRef({ namespace: ns === '_' ? null : ns, name: req.params.name }, req.params.rule);
    const op = await ctx.guard(req, 'rule.disable', [{ tenant, namespace: ref.namespace, environment }]);
    const ended = await disables.enable(tenant, environment, ref);
    if (!ended) throw new JochError('JOCH_NOT_FOUND', `rule "${ref.ruleId}" of ${ref.namespace ?? '_'}/${ref.name} is not disabled in ${environment}`);
    ctx.audit.record({ tenant, type: 'override', actor: actorOf(op), data: { action: 'rule.enabled', environment, policyNamespace: ref.namespace, policyName: ref.name, ruleId: ref.ruleId, disabledUntil: ended.until, ...(req.query.reason ? { reason: req.query.reason.slice(0, DISABLE_LIMITS.maxReason) } : {}) } });
    return { ended: true, ...ended, endedBy: op.id };
  });
}

function actorOf(op: Operator): Actor {
  return { type: 'operator', id: op.id, issuer: op.issuer };
}

function object(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new JochError('JOCH_BAD_REQUEST', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function text(value: unknown, name: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw new JochError('JOCH_BAD_REQUEST', `"${name}" is required`);
  if (value.length > max) throw new JochError('JOCH_BAD_REQUEST', `"${name}" is longer than ${max} characters`);
  return value.trim();
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

/** `policy` as "namespace/name", "name" (no namespace) or {namespace, name}; `rule` a rule id. */
function ruleRef(policy: unknown, rule: unknown): RuleRef {
  let namespace: string | null;
  let name: unknown;
  if (typeof policy === 'string') {
    const parts = policy.split('/');
    if (parts.length > 2) throw new JochError('JOCH_BAD_REQUEST', `"policy" must be NAMESPACE/NAME or NAME, not ${JSON.stringify(policy)}`);
    [namespace, name] = parts.length === 2 ? [parts[0] === '_' ? null : (parts[0] as string), parts[1]] : [null, parts[0]];
  } else if (policy !== null && typeof policy === 'object') {
    const p = policy as { namespace?: unknown; name?: unknown };
    namespace = p.namespace === undefined || p.namespace === null ? null : String(p.namespace);
    name = p.name;
  } else throw new JochError('JOCH_BAD_REQUEST', '"policy" is required (NAMESPACE/NAME)');
  if (typeof name !== 'string' || !NAME.test(name) || (namespace !== null && !NAME.test(namespace))) throw new JochError('JOCH_BAD_REQUEST', `"policy" must be NAMESPACE/NAME or NAME, not ${JSON.stringify(policy)}`);
  if (typeof rule !== 'string' || rule === '' || rule.length > 253) throw new JochError('JOCH_BAD_REQUEST', '"rule" is required: the rule id shown in decisions (ruleId)');
  return { namespace, name, ruleId: rule };
}

/** The end of a window: exactly one of `ttl` (a duration) or `until` (a time), within 24 hours. */
function untilOf(ttl: unknown, until: unknown): string {
  if ((ttl === undefined) === (until === undefined)) throw new JochError('JOCH_BAD_REQUEST', 'give exactly one of "ttl" (e.g. 2h) or "until" (an ISO 8601 time): a disable always ends by itself');
  if (ttl !== undefined) return new Date(Date.now() + parseDuration('ttl', ttl, DISABLE_LIMITS.maxMs)).toISOString();
  const t = typeof until === 'string' ? Date.parse(until) : NaN;
  if (!Number.isFinite(t)) throw new JochError('JOCH_BAD_REQUEST', `"until" must be an ISO 8601 time, not ${JSON.stringify(until)}`);
  const left = t - Date.now();
  if (left < 1000 || left > DISABLE_LIMITS.maxMs) throw new JochError('JOCH_BAD_REQUEST', `"until" must be between 1s and ${formatDuration(DISABLE_LIMITS.maxMs)} from now`);
  return new Date(t).toISOString();
}
