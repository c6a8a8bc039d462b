import { randomUUID } from 'node:crypto';
import { normalizeContext } from '../context/normalize.js';
import type { DecisionContext } from '../context/types.js';
import { classifyPayload, redactPayload } from '../scan/index.js';
import type { DataClass } from '../scan/types.js';
import type { ConditionTrace } from './conditions.js';
import { DefaultReasons, type Decision, type MatchedRule, type ModifiedRequest } from './decision.js';
import { describeDestination, egressAllows } from './egress.js';
import { annotate, scanScope, withFindings } from './findings.js';
import type { EvalState } from './eval-state.js';
import { mergeHeaderMutations } from './header-mutation.js';
import type { PolicySet } from './policy-set.js';
import type { CompiledPolicy, CompiledRule, HeaderMutation } from './types.js';

export type DefaultOutcome = 'allow' | 'deny';

export interface EngineOptions {
  /** Decision when no rule fires (default: allow). */
  readonly defaultDecision?: DefaultOutcome;
  /** Per-environment override of `defaultDecision`, e.g. `{prod: 'deny'}`. */
  readonly environmentDefaults?: Readonly<Record<string, DefaultOutcome>>;
  /** Decision ids; injectable for deterministic tests. */
  readonly newId?: () => string;
}

/** `--explain` output: every candidate policy, whether it applied, and how each rule came out. */
export interface Explanation {
  readonly policySetVersion: string;
  /** Policies the index ruled out without looking (other tenants, namespaces or hooks). */
  readonly notCandidates: number;
  readonly policies: PolicyTrace[];
}

export interface PolicyTrace {
  readonly policyId: string;
  readonly policyNamespace: string | null;
  readonly policyVersion: string;
  readonly source: string;
  readonly applies: boolean;
  readonly why?: string;
  readonly rules: RuleTrace[];
}

export interface RuleTrace {
  readonly ruleId: string;
  readonly source: string;
  /** matched: its `when` held; not-matched: it did not; skipped: evaluation stopped before it. */
  readonly result: 'matched' | 'not-matched' | 'skipped';
  readonly effect: string;
  readonly conditions?: ConditionTrace;
}

/**
 * Evaluates decision contexts against a policy set.
 *
 * Semantics: the policies that apply (tenant, namespace, hooks, environments, agent selector)
 * run in the set's order, and each policy's rules in declared order. A rule fires when all
 * of its `when` holds:
 * - `deny` ends evaluation at once (short-circuit);
 * - `allow` ends its own policy (later rules of that policy are skipped; other policies
 *   still run, so any other policy's deny still denies);
 * - modify (`redact`, `headers`), `annotate` and `require: approval` accumulate, in order.
 *   Annotations ride on the allow, modify or default outcome as `findings` and never change it.
 * Before any rule, egress allow-lists of the applicable policies are checked (a destination
 * on none of them is denied). The outcome: the first deny; else a pending approval (a deny
 * with `pending`); else modify when a redaction changed the payload or headers are changed;
 * else allow if an allow rule fired; else the default.
 * Evaluation errors fail closed (deny, `evaluation-error`).
 */
export class Engine {
  private readonly defaultDecision: DefaultOutcome;
  private readonly environmentDefaults: Readonly<Record<string, DefaultOutcome>>;
  private readonly newId: () => string;

  constructor(
    readonly policies: PolicySet,
    options: EngineOptions = {},
  ) {
    this.defaultDecision = options.defaultDecision ?? 'allow';
    this.environmentDefaults = options.environmentDefaults ?? {};
    this.newId = options.newId ?? randomUUID;
  }

  evaluate(context: DecisionContext): Decision {
    try {
      return this.run(normalizeContext(context), undefined);
    } catch {
      return this.failClosed();
    }
  }

  explain(context: DecisionContext): { decision: Decision; explain: Explanation } {
    const ctx = normalizeContext(context);
    const trace: PolicyTrace[] = [];
    let decision: Decision;
    try {
      decision = this.run(ctx, trace);
    } catch {
      decision = this.failClosed();
    }
    const candidates = this.policies.candidates(ctx.tenant, ctx.namespace, ctx.hook).policies.length;
    return {
      decision,
      explain: { policySetVersion: this.policies.version, notCandidates: this.policies.policies.length - candidates, policies: trace },
    };
  }

  private run(ctx: DecisionContext, trace: PolicyTrace[] | undefined): Decision {
    const index = this.policies.candidates(ctx.tenant, ctx.namespace, ctx.hook);
    // Explaining walks every candidate to say why each did or did not apply; deciding only
    // looks at those the selector index lets through.
    const candidates = trace ? index.policies : index.select(ctx.agent?.labels);
    const applicable: CompiledPolicy[] = [];
    const traces = trace && new Map<CompiledPolicy, PolicyTrace>();
    for (const p of candidates) {
      const applies = appliesTo(p, ctx);
      if (applies) applicable.push(p);
      if (trace && traces) {
        const t = policyTrace(p, applies ? undefined : whyNot(p, ctx));
        trace.push(t);
        traces.set(p, t);
      }
    }
    const egressDeny = this.checkEgress(ctx, applicable);
    if (egressDeny) return egressDeny;

    const state = new DecisionState(ctx, applicable);
    const matched: MatchedRule[] = [];
    let allowedBy: [CompiledPolicy, CompiledRule] | undefined;
    let approvalBy: [CompiledPolicy, CompiledRule] | undefined;
    const modifications: [CompiledPolicy, CompiledRule][] = [];

    for (const p of applicable) {
      const pt = traces?.get(p);
      for (let i = 0; i < p.rules.length; i++) {
        const rule = p.rules[i] as CompiledRule;
        const fired = rule.condition.test(state);
        pt?.rules.push(ruleTrace(rule, fired ? 'matched' : 'not-matched', state));
        if (!fired) continue;
        matched.push(matchedRule(p, rule.id, rule.effect.kind));
        const effect = rule.effect;
        if (effect.kind === 'deny') {
          if (trace) skipRest(trace, pt, p, i);
          const d = this.decide('deny', rule.reason ?? DefaultReasons.deny, p, rule.id, matched);
          d.status = effect.status;
          return d;
        }
        if (effect.kind === 'allow') {
          allowedBy ??= [p, rule];
          for (const rest of p.rules.slice(i + 1)) pt?.rules.push(ruleTrace(rest, 'skipped'));
          break;
        }
        if (effect.kind === 'approval') approvalBy ??= [p, rule];
        else modifications.push([p, rule]);
      }
    }

    const modified = modifications.length > 0 ? applyModifications(ctx, modifications) : undefined;
    if (approvalBy) {
      const [p, rule] = approvalBy;
      const d = this.decide('deny', rule.reason ?? DefaultReasons.approval, p, rule.id, matched);
      d.pending = { approval: 'human' };
      d.status = 403;
      // What the other rules change (redactions, headers, injected secrets) still applies to
      // the request if an approver lets it through once (src/overrides/grants.ts).
      if (modified) d.modifiedRequest = modified;
      return d;
    }
    const found = modifications.length > 0 ? annotate(ctx, modifications) : undefined;
    if (modified) {
      const [p, rule] = modifications.find(([, r]) => r.effect.kind === 'modify') as [CompiledPolicy, CompiledRule];
      const onlyRedaction = modified.headers === undefined;
      const d = this.decide('modify', rule.reason ?? (onlyRedaction ? DefaultReasons.redact : DefaultReasons.modify), p, rule.id, matched);
      d.modifiedRequest = modified;
      return withFindings(d, found);
    }
    if (allowedBy) return withFindings(this.decide('allow', allowedBy[1].reason ?? DefaultReasons.allow, allowedBy[0], allowedBy[1].id, matched), found);
    const fallback = (ctx.environment !== undefined && Object.hasOwn(this.environmentDefaults, ctx.environment)
      ? this.environmentDefaults[ctx.environment]
      : undefined) ?? this.defaultDecision;
    return withFindings({
      decision: fallback,
      reason: fallback === 'allow' ? DefaultReasons.noRule : DefaultReasons.defaultDeny,
      policyId: null,
      policyNamespace: null,
      policyVersion: this.policies.version,
      ruleId: null,
      decisionId: this.newId(),
      matched,
      ...(fallback === 'deny' ? { status: 403 } : {}),
    }, found);
  }

  /**
   * Egress allow-lists run before any rule: once an applicable policy declares one, a
   * destination that no applicable entry allows is denied. Contexts without a destination
   * (a tool result, a memory read) are not egress and pass through to the rules.
   */
  private checkEgress(ctx: DecisionContext, applicable: readonly CompiledPolicy[]): Decision | undefined {
    const dest = ctx.destination;
    if (dest === undefined || (dest.host === undefined && dest.sni === undefined && dest.address === undefined)) return undefined;
    let first: CompiledPolicy | undefined;
    for (const p of applicable) {
      if (p.egress === undefined) continue;
      first ??= p;
      for (const entry of p.egress) if (egressAllows(entry, dest)) return undefined;
    }
    if (first === undefined) return undefined;
    const d = this.decide('deny', DefaultReasons.egress, first, 'egress', [matchedRule(first, 'egress', 'egress')]);
    d.status = 403;
    d.message = `${describeDestination(dest)} is not on the egress allow-list`;
    return d;
  }

  private decide(outcome: Decision['decision'], reason: string, p: CompiledPolicy, ruleId: string, matched: MatchedRule[]): Decision {
    return {
      decision: outcome,
      reason,
      policyId: p.name,
      policyNamespace: p.namespace ?? null,
      policyVersion: p.version,
      ruleId,
      decisionId: this.newId(),
      matched,
    };
  }

  private failClosed(): Decision {
    return {
      decision: 'deny',
      reason: DefaultReasons.error,
      policyId: null,
      policyNamespace: null,
      policyVersion: this.policies.version,
      ruleId: null,
      decisionId: this.newId(),
      matched: [],
    };
  }
}

function appliesTo(p: CompiledPolicy, ctx: DecisionContext): boolean {
  if (p.environments !== undefined && (ctx.environment === undefined || !p.environments.has(ctx.environment))) return false;
  return p.selector.matches(ctx.agent?.labels);
}

function whyNot(p: CompiledPolicy, ctx: DecisionContext): string {
  if (p.environments !== undefined && (ctx.environment === undefined || !p.environments.has(ctx.environment))) {
    return `applies to environments ${[...p.environments].join(', ')}; context has ${ctx.environment ?? 'none'}`;
  }
  return p.selector.mismatch(ctx.agent?.labels) ?? 'does not apply';
}

function matchedRule(p: CompiledPolicy, ruleId: string, effect: MatchedRule['effect']): MatchedRule {
  return { policyId: p.name, policyNamespace: p.namespace ?? null, policyVersion: p.version, ruleId, effect };
}

/** Redactions (one pass over the payload, finding types unioned) and header changes in firing order. */
function applyModifications(ctx: DecisionContext, modifications: readonly [CompiledPolicy, CompiledRule][]): ModifiedRequest | undefined {
  const types = new Set<string>();
  const headerChanges: HeaderMutation[] = [];
  for (const [, rule] of modifications) {
    if (rule.effect.kind !== 'modify') continue;
    for (const t of rule.effect.redact ?? []) types.add(t);
    if (rule.effect.headers) headerChanges.push(rule.effect.headers);
  }
  const out: ModifiedRequest = {};
  if (types.size > 0 && ctx.payload !== undefined) {
    const { classes, options } = scanScope(types);
    const redacted = redactPayload(ctx.payload, classes, options);
    if (redacted.redactions > 0) out.payload = redacted.value;
  }
  if (headerChanges.length > 0) {
    const { set, remove, inject } = mergeHeaderMutations(headerChanges);
    out.headers = { set, remove };
    if (inject.length > 0) out.inject = inject;
  }
  return out.payload !== undefined || out.headers !== undefined ? out : undefined;
}

function policyTrace(p: CompiledPolicy, why: string | undefined): PolicyTrace {
  return {
    policyId: p.name,
    policyNamespace: p.namespace ?? null,
    policyVersion: p.version,
    source: `${p.source.file}:${p.source.line}`,
    applies: why === undefined,
    ...(why === undefined ? {} : { why }),
    rules: [],
  };
}

function ruleTrace(rule: CompiledRule, result: RuleTrace['result'], state?: EvalState): RuleTrace {
  return {
    ruleId: rule.id,
    source: `${rule.source.file}:${rule.source.line}`,
    result,
    effect: rule.effect.kind,
    ...(state === undefined ? {} : { conditions: rule.condition.explain(state) }),
  };
}

/** After a deny: mark the rest of this policy and every later applicable policy as skipped. */
function skipRest(trace: PolicyTrace[], current: PolicyTrace | undefined, p: CompiledPolicy, index: number): void {
  for (const rest of p.rules.slice(index + 1)) current?.rules.push(ruleTrace(rest, 'skipped'));
  let after = false;
  for (const t of trace) {
    if (t === current) after = true;
    else if (after && t.applies && t.rules.length === 0) t.rules.push({ ruleId: '*', source: t.source, result: 'skipped', effect: 'all rules' });
  }
}

/** Classes of payload objects already scanned; payloads are never changed in place (redaction copies). */
const classified = new WeakMap<object, ReadonlySet<DataClass>>();

/** Per-decision state: the applicable policies and the lazily computed payload classes. */
class DecisionState implements EvalState {
  private classes: ReadonlySet<DataClass> | undefined;

  constructor(
    readonly ctx: DecisionContext,
    private readonly applicable: readonly CompiledPolicy[],
  ) {}

  dataClasses(): ReadonlySet<DataClass> {
    let classes = this.classes;
    if (classes === undefined) {
      const payload = this.ctx.payload;
      if (payload === undefined) classes = new Set<DataClass>();
      else if (typeof payload === 'object' && payload !== null) {
        // One body is often decided under several hooks (an MCP tool result is both
        // toolCallResult and mcpInbound): scan each payload object once.
        classes = classified.get(payload);
        if (classes === undefined) {
          classes = classifyPayload(payload);
          classified.set(payload, classes);
        }
      } else classes = classifyPayload(payload);
      this.classes = classes;
    }
    return classes;
  }

  /** On an allow-list of any applicable policy. With none declared for the path, nothing is (fail closed). */
  allowlisted(path: string, value: string): boolean {
    for (const p of this.applicable) {
      const entries = p.allowlists.get(path);
      if (entries === undefined) continue;
      for (const e of entries) if (e(value)) return true;
    }
    return false;
  }
}
