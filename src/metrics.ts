import { Counter, Gauge, Registry, type MetricValue } from 'prom-client';
import type { Decision } from './policy/decision.js';

/** Which edge answered: ext_authz HTTP filter, ext_authz network filter, the HTTP authz mode, or ext_proc (one per body decision). */
export type EdgeKind = 'authz_http' | 'authz_network' | 'http_service' | 'ext_proc';

/**
 * The gateway's Prometheus metrics, served by the admin server at /metrics. Label values are
 * bounded: outcomes, edge kinds, and policy ids from the loaded policy set.
 */
export class Metrics {
  readonly registry = new Registry();
  // Counted on every Check: plain numbers, turned into Prometheus samples only when scraped.
  private readonly decisions = new HotCounter('joch_decisions_total', 'Decisions by edge, outcome and deciding policy', this.registry);
  private readonly latency = new HotHistogram(
    'joch_check_duration_seconds',
    'Time from receiving a check to answering it',
    [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1],
    this.registry,
  );
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

  readonly ruleDisables = new Gauge({ name: 'joch_rule_disables_active', help: 'Emergency rule disables in force for this gateway', registers: [this.registry] });

  /** Failed fetches from a secret provider (the cache keeps serving within maxStale). */
  readonly secretFetchErrors = new Counter({
    name: 'joch_secret_fetch_errors_total',
    help: 'Failed fetches of a Secret from its provider',
    labelNames: ['secret'] as const,
    registers: [this.registry],
  });
  readonly secretRotations = new Counter({
    name: 'joch_secret_rotations_total',
    help: 'Secret rotations, from this replica (local) or another (remote)',
    labelNames: ['origin'] as const,
    registers: [this.registry],
  });

  decision(edge: EdgeKind, d: Decision, seconds: number): void {
    const outcome = d.pending ? 'pending' : d.decision;
    const policy = d.policyId ?? '';
    this.decisions.inc(`${edge}\0${outcome}\0${policy}`, () => ({ edge, outcome, policy }));
    this.latency.observe(edge, () => ({ edge }), seconds);
  }

  error(edge: EdgeKind, reason: string): void {
    this.errors.inc({ edge, reason });
  }
}

type Labels = Record<string, string>;

/**
 * prom-client's own metrics hash their label set on every update (about a microsecond per
 * call); these keep one slot per label set, found by a caller-built key, and produce
 * samples only when /metrics is scraped. They register like any prom-client metric.
 */
class HotCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly slots = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  inc(key: string, labels: () => Labels): void {
    const slot = this.slots.get(key);
    if (slot !== undefined) slot.value++;
    else this.slots.set(key, { labels: labels(), value: 1 });
  }

  get(): Promise<object> {
    const values = [...this.slots.values()].map((s) => ({ labels: s.labels, value: s.value }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.slots.clear();
  }
}

class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly slots = new Map<string, { labels: Labels; buckets: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  observe(key: string, labels: () => Labels, value: number): void {
    let slot = this.slots.get(key);
    if (slot === undefined) this.slots.set(key, (slot = { labels: labels(), buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 }));
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        slot.buckets[i]!++;
        break;
      }
    }
    slot.sum += value;
    slot.count++;
  }

  get(): Promise<object> {
    const values: MetricValue<string>[] = [];
    for (const s of this.slots.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.buckets[i]!;
        values.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${this.name}_bucket` } as MetricValue<string>);
      });
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${this.name}_bucket` } as MetricValue<string>);
      values.push({ labels: s.labels, value: s.sum, metricName: `${this.name}_sum` } as MetricValue<string>);
      values.push({ labels: s.labels, value: s.count, metricName: `${this.name}_count` } as MetricValue<string>);
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type as never, aggregator: this.aggregator, values });
  }

  reset(): void {
    this.slots.clear();
  }
}
