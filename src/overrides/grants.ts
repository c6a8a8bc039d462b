import { Counter, type Registry } from 'prom-client';
import type { AuditEvents } from '../audit/log.js';
import type { Actor } from '../audit/record.js';
import type { DecisionContext } from '../context/types.js';
import { JochError } from '../errors.js';
import type { Decision } from '../policy/decision.js';
import { isValidTenant, type Store } from '../state/store.js';
import { agentOf, grantKey, requestFingerprint, type GrantSubject } from './fingerprint.js';

/** Bounds of the one-shot flows (documented in the README). */
export const GRANT_LIMITS = {
  /** How long after a denial its decision id can be approved, rejected or overridden. */
  ticketTtlMs: 60 * 60_000,
  /** How long an approval or override waits to be used when the call names no `ttl`. */
  defaultGrantTtlMs: 15 * 60_000,
  /** The longest an approval or override may wait to be used. */
  maxGrantTtlMs: 60 * 60_000,
  /** Longest reason text. */
  maxReason: 1000,
} as const;

const TICKETS = 'overrides/tickets';
const GRANTS = 'overrides/grants';
/** Tickets already decided, kept as long as an open one would be, so a second try is told who decided. */
const DECIDED = 'overrides/decided';

/** What the gateway keeps of a denied (or pending) decision so an operator can act on it by id. */
export interface DecisionTicket extends GrantSubject {
  readonly decisionId: string;
  readonly environment: string;
  readonly policyVersion: string;
  readonly reason: string;
  /** Waiting for a human approval (`pending: {approval: "human"}`) rather than denied outright. */
  readonly pending: boolean;
  readonly deniedAt: string;
}

export type GrantKind = 'approval' | 'override';

export interface DecidedTicket {
  readonly ticket: DecisionTicket;
  readonly verdict: GrantOutcome['verdict'];
  readonly by: string;
  readonly at: string;
}

/** A one-shot pass for the next request matching a ticket's subject. */
export interface Grant {
  readonly kind: GrantKind;
  readonly decisionId: string;
  readonly actor: string;
  readonly reason: string;
  readonly expiresAt: string;
}

export interface GrantOutcome {
  readonly decisionId: string;
  readonly kind: GrantKind;
  readonly verdict: 'approved' | 'rejected' | 'overridden';
  readonly policy: { readonly namespace: string | null; readonly name: string; readonly version: string };
  readonly ruleId: string;
  readonly agent: string | null;
  /** When the one-shot pass lapses unused (absent for a rejection). */
  readonly expiresAt?: string;
}

/** Appended to a denial's message when grants cannot be checked. */
export const STORE_DOWN_MESSAGE = 'approvals and overrides cannot be checked while the state store is unavailable; denied (fail closed)';

/**
 * One-shot approvals and break-glass overrides. On the hot path only denials reach this: each
 * one decided by a policy rule is kept as a ticket (asynchronously, for an hour) and looks up
 * a pass for its subject, which it consumes atomically (so of any number of replicas, one
 * request gets through). Allows never touch the store. Operators turn a ticket into a pass
 * (approve, override) or close it (reject) through the admin API; every step is audited.
 */
export class OneShotGrants {
  private readonly counted: Counter<'kind' | 'verdict'> | undefined;

  constructor(
    private readonly store: Store,
    private readonly audit: AuditEvents,
    private readonly defaults: { readonly tenant: string; readonly environment: string },
    /** Where `joch_grants_total` is registered (absent: not counted). */
    registry?: Registry,
  ) {
    this.counted = registry
      ? new Counter({ name: 'joch_grants_total', help: 'Approvals and break-glass overrides decided (approved, rejected, overridden) and one-shot passes used', labelNames: ['kind', 'verdict'] as const, registers: [registry] })
      : undefined;
  }

  /**
   * The hot path's call for a decision: returned as is unless it is a rule's denial; then a
   * promise (never rejecting) of an allow when a pass was waiting, else of the denial, with a
   * fail-closed message when the store cannot be asked.
   */
  review(ctx: DecisionContext, d: Decision): Decision | Promise<Decision> {
    if (d.decision !== 'deny' || d.policyId === null || d.ruleId === null) return d;
    const tenant = ctx.tenant !== undefined && isValidTenant(ctx.tenant) ? ctx.tenant : this.defaults.tenant;
    const subject: GrantSubject = { tenant, agent: agentOf(ctx), policyNamespace: d.policyNamespace, policyId: d.policyId, ruleId: d.ruleId, fingerprint: requestFingerprint(ctx) };
    if (!this.store.available()) return storeDown(d);
    const ticket: DecisionTicket = { ...subject, decisionId: d.decisionId, environment: this.defaults.environment, policyVersion: d.policyVersion, reason: d.reason, pending: d.pending !== undefined, deniedAt: new Date().toISOString() };
    // Not awaited: the denial does not wait for its ticket (an unwritten one means "unknown id" later).
    this.store.setExpiring(tenant, TICKETS, d.decisionId, JSON.stringify(ticket), GRANT_LIMITS.ticketTtlMs).catch(() => undefined);
    return this.store
      .takeExpiring(tenant, GRANTS, grantKey(subject))
      .then((raw) => (raw === undefined ? d : this.use(JSON.parse(raw) as Grant, subject, d)))
      .catch(() => storeDown(d));
  }

  private use(grant: Grant, subject: GrantSubject, d: Decision): Decision {
    this.counted?.inc({ kind: grant.kind, verdict: 'used' });
    this.audit.record({
      tenant: subject.tenant,
      type: grant.kind,
      actor: subject.agent !== null ? { type: 'agent', id: subject.agent } : { type: 'system', id: 'joch-gateway' },
      data: { action: 'used', decisionId: grant.decisionId, usedBy: d.decisionId, grantedBy: grant.actor, policy: policyOf(subject, d.policyVersion), ruleId: subject.ruleId },
    });
    const { pending: _p, status: _s, ...rest } = d;
    return {
      ...rest,
      // A pending decision carries what other rules change; approved, those changes still apply.
      decision: d.modifiedRequest !== undefined ? 'modify' : 'allow',
      reason: grant.kind === 'approval' ? 'approved-once' : 'break-glass-override',
      message: `allowed once: ${grant.kind === 'approval' ? 'approval' : 'break-glass override'} of decision ${grant.decisionId} by ${grant.actor}`,
    };
  }

  /** The tenant's open tickets (denials not yet decided or expired), the oldest first, at most `limit`. */
  async open(tenant: string, limit: number): Promise<DecisionTicket[]> {
    return (await this.store.listExpiring(tenant, TICKETS, limit)).map((e) => JSON.parse(e.value) as DecisionTicket);
  }

  /** A ticket still open (not decided, not expired), or undefined. */
  async ticket(tenant: string, decisionId: string): Promise<DecisionTicket | undefined> {
    const raw = await this.store.getExpiring(tenant, TICKETS, checkDecisionId(decisionId));
    return raw === undefined ? undefined : (JSON.parse(raw) as DecisionTicket);
  }

  /**
   * Closes a ticket (atomically: a decision id is approved, rejected or overridden once) and,
   * unless rejected, leaves a one-shot pass for its subject that lapses after `ttlMs`.
   */
  async grant(ticket: DecisionTicket, kind: GrantKind, approve: boolean, actor: Actor, reason: string, ttlMs: number): Promise<GrantOutcome> {
    if (kind === 'approval' && !ticket.pending) {
      throw new JochError('JOCH_NOT_PENDING', `decision ${ticket.decisionId} was denied by rule "${ticket.ruleId}", not sent for approval`, {}, 'a break-glass operator can override it (joch override)');
    }
    if ((await this.store.takeExpiring(ticket.tenant, TICKETS, ticket.decisionId)) === undefined) {
      throw new JochError('JOCH_ALREADY_DECIDED', `decision ${ticket.decisionId} was approved, rejected or overridden meanwhile, or expired`);
    }
    const expiresAt = new Date(Date.now() + ttlMs).toISOString();
    if (approve) {
      const grant: Grant = { kind, decisionId: ticket.decisionId, actor: actor.id, reason, expiresAt };
      await this.store.setExpiring(ticket.tenant, GRANTS, grantKey(ticket), JSON.stringify(grant), ttlMs);
    }
    const outcome: GrantOutcome = {
      decisionId: ticket.decisionId,
      kind,
      verdict: !approve ? 'rejected' : kind === 'approval' ? 'approved' : 'overridden',
      policy: policyOf(ticket, ticket.policyVersion),
      ruleId: ticket.ruleId,
      agent: ticket.agent,
      ...(approve ? { expiresAt } : {}),
    };
    this.counted?.inc({ kind, verdict: outcome.verdict });
    this.audit.record({ tenant: ticket.tenant, type: kind, actor, data: { action: outcome.verdict, reason, environment: ticket.environment, fingerprint: ticket.fingerprint, ...outcome } });
    const decided: DecidedTicket = { ticket, verdict: outcome.verdict, by: actor.id, at: new Date().toISOString() };
    await this.store.setExpiring(ticket.tenant, DECIDED, ticket.decisionId, JSON.stringify(decided), GRANT_LIMITS.ticketTtlMs).catch(() => undefined);
    return outcome;
  }

  /** How a ticket was decided (for an hour after), or undefined. */
  async decided(tenant: string, decisionId: string): Promise<DecidedTicket | undefined> {
    const raw = await this.store.getExpiring(tenant, DECIDED, checkDecisionId(decisionId));
    return raw === undefined ? undefined : (JSON.parse(raw) as DecidedTicket);
  }
}

/**
 * One request can be decided on several contexts (ext_proc: an MCP tools/call is a
 * `toolCallRequest` and an `mcpOutbound`, its answer a `toolCallResult` and an `mcpInbound`),
 * and one rule may deny more than one of them. The pass `granted` (what `review` returned)
 * covers a later denial `d` of that request, or of its answer, by the same policy rule: allowed
 * the same way, without asking the store again. Else undefined.
 */
export function coveredByPass(granted: Decision, d: Decision): Decision | undefined {
  if (d.decision !== 'deny' || granted.decision === 'deny' || (granted.reason !== 'approved-once' && granted.reason !== 'break-glass-override')) return undefined;
  if (d.policyId === null || d.policyId !== granted.policyId || d.policyNamespace !== granted.policyNamespace || d.ruleId !== granted.ruleId) return undefined;
  const { pending: _p, status: _s, ...rest } = d;
  return { ...rest, decision: d.modifiedRequest !== undefined ? 'modify' : 'allow', reason: granted.reason, ...(granted.message !== undefined ? { message: granted.message } : {}) };
}

const DECISION_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,99}$/;

export function checkDecisionId(id: unknown): string {
  if (typeof id !== 'string' || !DECISION_ID.test(id)) throw new JochError('JOCH_BAD_REQUEST', `${JSON.stringify(id)} is not a decision id`, {}, 'use the decisionId of the denial (the x-joch-decision-id header or the audit log)');
  return id;
}

function policyOf(s: GrantSubject, version: string): GrantOutcome['policy'] {
  return { namespace: s.policyNamespace, name: s.policyId, version };
}

/** A denial that stays one because approvals and overrides could not be checked. */
export function storeDown(d: Decision): Decision {
  return { ...d, message: d.message === undefined ? STORE_DOWN_MESSAGE : `${d.message}; ${STORE_DOWN_MESSAGE}` };
}
