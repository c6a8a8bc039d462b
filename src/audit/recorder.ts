import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import { isValidTenant } from '../state/store.js';
import type { AuditLog } from './log.js';
import type { Actor, AuditEvent } from './record.js';

/**
 * The hot path's one call into audit. Implementations must not block: no awaits, no hashing,
 * no I/O on the caller's stack.
 */
export interface DecisionRecorder {
  recordDecision(decision: Decision, ctx: DecisionContext | undefined, edge: string): void;
}

/** Audit off. */
export const NO_DECISION_RECORDING: DecisionRecorder = { recordDecision: () => undefined };

/**
 * Records every decision (allow included) as a `decision` audit record, the HookDecision event.
 * `recordDecision` appends four references to an array and, once per event-loop turn,
 * schedules a move into the audit log, where building, hashing and writing happen in batches.
 */
export class AuditDecisionRecorder implements DecisionRecorder {
  private buffer: unknown[] = [];
  private scheduled = false;

  constructor(
    private readonly audit: AuditLog,
    /** Tenant of decisions whose context names none (or an invalid one). */
    private readonly defaultTenant = 'default',
  ) {}

  recordDecision(decision: Decision, ctx: DecisionContext | undefined, edge: string): void {
    this.buffer.push(decision, ctx, edge, Date.now());
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.move);
    }
  }

  private readonly move = (): void => {
    const b = this.buffer;
    this.buffer = [];
    this.scheduled = false;
    for (let i = 0; i < b.length; i += 4) {
      this.audit.record(decisionEvent(b[i] as Decision, b[i + 1] as DecisionContext | undefined, b[i + 2] as string, b[i + 3] as number, this.defaultTenant));
    }
  };
}

/**
 * The audit form of a decision: who, what, where and the outcome, with the AOS step ids. No
 * payloads, header values, tool arguments or query strings: those can carry secrets.
 */
export function decisionEvent(d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant = 'default'): AuditEvent {
  const tenant = ctx?.tenant !== undefined && isValidTenant(ctx.tenant) ? ctx.tenant : defaultTenant;
  const agent = ctx?.agent;
  const actor: Actor = { type: 'agent', id: agent?.id ?? agent?.name ?? 'unknown' };
  return {
    tenant,
    type: 'decision',
    actor,
    time,
    data: {
      edge,
      decisionId: d.decisionId,
      decision: d.decision,
      reason: d.reason,
      policyId: d.policyId,
      policyNamespace: d.policyNamespace,
      policyVersion: d.policyVersion,
      ruleId: d.ruleId,
      ...(d.pending ? { pending: d.pending } : {}),
      ...(d.status !== undefined ? { status: d.status } : {}),
      ...(d.modifiedRequest ? { modified: { payload: d.modifiedRequest.payload !== undefined, headers: Object.keys(d.modifiedRequest.headers?.set ?? {}).concat(d.modifiedRequest.headers?.remove ?? []) } } : {}),
      matched: d.matched.map((m) => ({ policyId: m.policyId, policyNamespace: m.policyNamespace, policyVersion: m.policyVersion, ruleId: m.ruleId, effect: m.effect })),
      ...(ctx?.tenant !== undefined && ctx.tenant !== tenant ? { claimedTenant: String(ctx.tenant).slice(0, 128) } : {}),
      ...(ctx ? contextSummary(ctx) : {}),
    },
  };
}

function contextSummary(c: DecisionContext): Record<string, unknown> {
  return {
    hook: c.hook,
    namespace: c.namespace,
    environment: c.environment,
    agent: c.agent ? { id: c.agent.id, name: c.agent.name, framework: c.agent.framework } : undefined,
    session: c.session?.id,
    turnId: c.turnId,
    stepId: c.stepId,
    tool: c.tool ? { name: c.tool.name, server: c.tool.server, sideEffect: c.tool.sideEffect } : undefined,
    model: c.model,
    mcp: c.mcp,
    destination: c.destination,
    request: c.request ? { method: c.request.method, path: c.request.path?.split('?')[0] } : undefined,
  };
}
