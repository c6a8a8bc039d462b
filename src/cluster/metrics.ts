import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

/**
 * The metric families a worker reports: what it decides and serves (one-shot passes used
 * included), and its Secret fetches and rotations. The primary reports the rest (policies
 * loaded and reloads, the audit log); it decides nothing, so its own decision families stay
 * empty.
 */
export const WORKER_METRICS: ReadonlySet<string> = new Set(['joch_decisions_total', 'joch_check_duration_seconds', 'joch_check_errors_total', 'joch_secret_fetch_errors_total', 'joch_secret_rotations_total', 'joch_grants_total', 'joch_audit_overflow_total']);

export type Families = readonly MetricObjectWithValues<MetricValue<string>>[];

/** The primary's families and every worker's, each family summed per label set over the processes. */
export async function mergedMetrics(primary: Registry, workers: readonly Families[]): Promise<string> {
  return AggregatorRegistry.aggregate([await primary.getMetricsAsJSON(), ...workers] as MetricObjectWithValues<MetricValue<string>>[][]).metrics();
}
