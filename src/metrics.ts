import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Decision } from './policy/decision.js';

/** Which edge answered: ext_authz HTTP filter, ext_authz network filter, the HTTP authz mode, or ext_proc (one per body decision). */
export type EdgeKind = 'authz_http' | 'authz_network' | 'http_service' | 'ext_proc';

/**
 * The gateway's Prometheus metrics, served by the admin server at /metrics. Label values are
 * bounded: outcomes, edge kinds, and policy ids from the loaded policy set.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly decisions = new Counter({
    name: 'joch_decisions_total',
    help: 'Decisions by edge, outcome and deciding policy',
    labelNames: ['edge', 'outcome', 'policy'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'joch_check_duration_seconds',
    help: 'Time from receiving a check to answering it',
    labelNames: ['edge'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    registers: [this.registry],
  });
  private readonly errors = new Counter({
    name: 'joch_check_errors_total',
    help: 'Checks answered with a fail-closed deny because of bad input or an internal error',
    labelNames: ['edge', 'reason'] as const,
    registers: [this.registry],
  });
  readonly policiesLoaded = new Gauge({ name: 'joch_policies_loaded', help: 'Policies in the active set', registers: [this.registry] });
  readonly reloads = new Counter({
    name: 'joch_policy_reloads_total',
    help: 'Policy reloads by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  decision(edge: EdgeKind, d: Decision, seconds: number): void {
    this.decisions.inc({ edge, outcome: d.pending ? 'pending' : d.decision, policy: d.policyId ?? '' });
    this.latency.observe({ edge }, seconds);
  }

  error(edge: EdgeKind, reason: string): void {
    this.errors.inc({ edge, reason });
  }
}
