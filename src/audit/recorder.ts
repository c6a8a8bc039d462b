import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import { isValidTenant } from '../state/store.js';
import type { AuditLog } from './log.js';
import type { Actor, AuditEvent, TextRedactor } from './record.js';

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
    private readonly redact?: TextRedactor,
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
      this.audit.record(decisionEvent(b[i] as Decision, b[i + 1] as DecisionContext | undefined, b[i + 2] as string, b[i + 3] as number, this.defaultTenant, this.redact));
    }
  };
}

/**
 * The audit form of a decision: who, what, where and the outcome, with the AOS step ids. No
 * payloads, header values, tool arguments or query strings: those can carry secrets. Every
 * object is built with its keys in sorted order and holds only primitives or such objects
 * (`presorted`), so JSON.stringify gives the canonical encoding without a sorting pass.
 */
export function decisionEvent(d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant = 'default', redact?: TextRedactor): AuditEvent {
  // What the agent supplied (names, hosts, paths, ids) goes through the logs' redactor; what
  // the policies supplied (ids, versions, reasons) cannot hold a secret. One pass over all of
  // it first: only when that finds something is each string redacted on its own.
  if (redact !== undefined && ctx !== undefined) {
    const supplied = agentSupplied(ctx, d);
    if (redact(supplied) !== supplied) return buildDecisionEvent(d, ctx, edge, time, defaultTenant, (v) => (typeof v === 'string' ? redact(v) : undefined));
  }
  return buildDecisionEvent(d, ctx, edge, time, defaultTenant, asString);
}

/** Every string of the context that a decision record keeps, one per line (finding paths hold payload keys). */
function agentSupplied(ctx: DecisionContext, d: Decision): string {
  const a = ctx.agent;
  const t = ctx.destination;
  return [ctx.tenant, ctx.namespace, ctx.environment, ctx.hook, a?.id, a?.name, a?.framework, t?.host, t?.sni, t?.address, t?.scheme, ctx.request?.method, ctx.request?.path, ctx.tool?.name, ctx.tool?.server, ctx.tool?.sideEffect, ctx.mcp?.method, ctx.mcp?.server, ctx.mcp?.direction, ctx.model?.name, ctx.model?.provider, ctx.session?.id, ctx.turnId, ctx.stepId, ...(d.findings?.listed.map((f) => f.path) ?? [])]
    .filter((v) => typeof v === 'string')
    .join('\n');
}

function buildDecisionEvent(d: Decision, ctx: DecisionContext | undefined, edge: string, time: number, defaultTenant: string, str: (v: unknown) => string | undefined): AuditEvent {
  const tenant = ctx?.tenant !== undefined && isValidTenant(ctx.tenant) ? ctx.tenant : defaultTenant;
  const agent = ctx?.agent;
  const actor: Actor = { id: str(agent?.id) ?? str(agent?.name) ?? 'unknown', type: 'agent' };
  const m = d.modifiedRequest;
  const data = {
    agent: agent ? { framework: str(agent.framework), id: str(agent.id), name: str(agent.name) } : undefined,
    claimedTenant: ctx?.tenant !== undefined && ctx.tenant !== tenant ? str(String(ctx.tenant))?.slice(0, 128) : undefined,
    decision: d.decision,
    decisionId: d.decisionId,
    destination: ctx?.destination ? { address: str(ctx.destination.address), host: str(ctx.destination.host), port: num(ctx.destination.port), scheme: str(ctx.destination.scheme), sni: str(ctx.destination.sni) } : undefined,
    edge,
    environment: str(ctx?.environment),
    // What annotate rules found: types, counts, scores and places, never the matched text.
    findings: d.findings
      ? {
          listed: d.findings.listed.map((f) => ({ class: f.class, detector: f.detector, end: f.end, path: str(f.path), policyId: f.policyId, ruleId: f.ruleId, score: f.score, start: f.start, type: f.type })),
          types: d.findings.types.map((t) => ({ class: t.class, count: t.count, score: t.score, type: t.type })),
        }
      : undefined,
    hook: str(ctx?.hook),
    matched: d.matched.map((r) => ({ effect: r.effect, policyId: r.policyId, policyNamespace: r.policyNamespace, policyVersion: r.policyVersion, ruleId: r.ruleId })),
    mcp: ctx?.mcp ? { direction: str(ctx.mcp.direction), method: str(ctx.mcp.method), server: str(ctx.mcp.server) } : undefined,
    model: ctx?.model ? { name: str(ctx.model.name), provider: str(ctx.model.provider) } : undefined,
    modified: m ? { headers: Object.keys(m.headers?.set ?? {}).concat(m.headers?.remove ?? []).map(String), payload: m.payload !== undefined } : undefined,
    namespace: str(ctx?.namespace),
    pending: d.pending ? { approval: d.pending.approval } : undefined,
    policyId: d.policyId,
    policyNamespace: d.policyNamespace,
    policyVersion: d.policyVersion,
    reason: d.reason,
    request: ctx?.request ? { method: str(ctx.request.method), path: str(ctx.request.path)?.split('?')[0] } : undefined,
    ruleId: d.ruleId,
    session: str(ctx?.session?.id),
    status: d.status,
    stepId: str(ctx?.stepId),
    tool: ctx?.tool ? { name: str(ctx.tool.name), server: str(ctx.tool.server), sideEffect: str(ctx.tool.sideEffect) } : undefined,
    turnId: str(ctx?.turnId),
  };
  return { tenant, type: 'decision', actor, time, data, presorted: true };
}

const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
