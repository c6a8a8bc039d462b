/** Small helpers for benchmark figures: percentiles over recorded samples and table printing. */

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Collects garbage now (with --expose-gc, as npm run bench runs), so no run pays for the previous one's. */
export function settle(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Times `fn` once per item, returning per-call nanoseconds, sorted. Starts from a collected heap. */
export function sampleNs<T>(items: readonly T[], fn: (item: T) => unknown, calls: number): Float64Array {
  settle();
  const out = new Float64Array(calls);
  let sink = 0;
  for (let i = 0; i < calls; i++) {
    const item = items[i % items.length] as T;
    const t0 = process.hrtime.bigint();
    const r = fn(item);
    out[i] = Number(process.hrtime.bigint() - t0);
    if (r === undefined) sink++;
  }
  if (sink < 0) console.log(sink); // keeps results observable so the work is not optimised away
  return out.sort();
}

/** Calls per second over `ms` milliseconds, without per-call timing. */
export function throughput<T>(items: readonly T[], fn: (item: T) => unknown, ms: number): number {
  settle();
  let n = 0;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) fn(items[(n + i) % items.length] as T);
    n += 256;
  }
  return n / (ms / 1000);
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c] as number)).join(' | ')} |`;
  return [line(cells[0] as string[]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

export const us = (ns: number): string => (ns / 1000).toFixed(2);
export const ratio = (x: number, base: number): string => `${(x / base).toFixed(2)}×`;
