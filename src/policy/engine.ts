import { randomUUID } from 'node:crypto';
import { normalizeContext } from '../context/normalize.js';
import type { DecisionContext } from '../context/types.js';
import { classifyPayload, redactPayload } from '../scan/index.js';
import type { DataClass } from '../scan/types.js';
import type { ConditionTrace } from './conditions.js';
import { DefaultReasons, type Decision, type MatchedRule } from './decision.js';
import type { EvalState } from './eval-state.js';
import type { PolicySet } from './policy-set.js';
import type { CompiledPolicy, CompiledRule } from './types.js';

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
 * - `redact` (modify) and `require: approval` accumulate, in order.
 * The outcome: the first deny; else a pending approval (a deny with `pending`); else modify
 * when a redaction changed the payload; else allow if an allow rule fired; else the default.
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
    const state = new DecisionState(ctx, applicable);
    const matched: MatchedRule[] = [];
    let allowedBy: [CompiledPolicy, CompiledRule] | undefined;
    let approvalBy: [CompiledPolicy, CompiledRule] | undefined;
    const redactions: [CompiledPolicy, CompiledRule][] = [];

    for (const p of applicable) {
      const pt = traces?.get(p);
      for (let i = 0; i < p.rules.length; i++) {
        const rule = p.rules[i] as CompiledRule;
        const fired = rule.condition.test(state);
        pt?.rules.push(ruleTrace(rule, fired ? 'matched' : 'not-matched', state));
        if (!fired) continue;
        matched.push(matchedRule(p, rule));
        const kind = rule.effect.kind;
        if (kind === 'deny') {
          if (trace) skipRest(trace, pt, p, i);
          return this.decide('deny', rule.reason ?? DefaultReasons.deny, p, rule, matched);
        }
        if (kind === 'allow') {
          allowedBy ??= [p, rule];
          for (const rest of p.rules.slice(i + 1)) pt?.rules.push(ruleTrace(rest, 'skipped'));
          break;
        }
        if (kind === 'approval') approvalBy ??= [p, rule];
        else redactions.push([p, rule]);
      }
    }

    if (approvalBy) {
      const [p, rule] = approvalBy;
      const d = this.decide('deny', rule.reason ?? DefaultReasons.approval, p, rule, matched);
      d.pending = { approval: 'human' };
      return d;
    }
    if (redactions.length > 0) {
      const classes = new Set<DataClass>();
      for (const [, rule] of redactions) if (rule.effect.kind === 'redact') for (const c of rule.effect.classes) classes.add(c);
      const redacted = redactPayload(ctx.payload, classes);
      if (redacted.redactions > 0) {
        const [p, rule] = redactions[0] as [CompiledPolicy, CompiledRule];
        const d = this.decide('modify', rule.reason ?? DefaultReasons.redact, p, rule, matched);
        d.modifiedRequest = { payload: redacted.value };
        return d;
      }
    }
    if (allowedBy) return this.decide('allow', allowedBy[1].reason ?? DefaultReasons.allow, allowedBy[0], allowedBy[1], matched);
    const fallback = (ctx.environment !== undefined && Object.hasOwn(this.environmentDefaults, ctx.environment)
      ? this.environmentDefaults[ctx.environment]
      : undefined) ?? this.defaultDecision;
    return {
      decision: fallback,
      reason: fallback === 'allow' ? DefaultReasons.noRule : DefaultReasons.defaultDeny,
      policyId: null,
      policyNamespace: null,
      policyVersion: this.policies.version,
      ruleId: null,
      decisionId: this.newId(),
      matched,
    };
  }

  private decide(outcome: Decision['decision'], reason: string, p: CompiledPolicy, rule: CompiledRule, matched: MatchedRule[]): Decision {
    return {
      decision: outcome,
      reason,
      policyId: p.name,
      policyNamespace: p.namespace ?? null,
      policyVersion: p.version,
      ruleId: rule.id,
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

function matchedRule(p: CompiledPolicy, rule: CompiledRule): MatchedRule {
  return { policyId: p.name, policyNamespace: p.namespace ?? null, policyVersion: p.version, ruleId: rule.id, effect: rule.effect.kind };
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
      classes = this.ctx.payload === undefined ? new Set<DataClass>() : classifyPayload(this.ctx.payload);
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
