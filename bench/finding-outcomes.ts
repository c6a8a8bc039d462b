/**
 * What per-finding-type conditions and annotate cost against a class condition, on a benign
 * ~70 KB MCP tool result (`npx tsx bench/finding-outcomes.ts`). Each decision gets a fresh
 * payload object, so no scan is served from a cache; the three engines take turns, R rounds,
 * and the median per engine is reported as a ratio to the class condition of the same run.
 */
import { Engine } from '../src/policy/engine.js';
import { compileSources } from '../src/policy/load.js';
import { PolicySet } from '../src/policy/policy-set.js';

const policy = (when: string, action: string): string => `apiVersion: joch.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec:\n  rules:\n    - id: r\n      when: ${when}\n      action: ${action}\n`;
const engine = (text: string): Engine => new Engine(new PolicySet(compileSources([{ file: 'bench.yaml', text }]).policies));
const engines: [string, Engine][] = [
  ['data.contains: injection → deny', engine(policy('{data.contains: injection}', 'deny'))],
  ['data.contains: HIDDEN_CONTENT → deny', engine(policy('{data.contains: HIDDEN_CONTENT}', 'deny'))],
  ['annotate: true (every class)', engine(policy('{hook: toolCallResult}', '{annotate: true}'))],
];
const text = 'the quarterly report lists revenue by region and the support queue sizes for each team '.repeat(800);
const payload = (): unknown => ({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: text + Math.random() }] } });
const N = 100;
const R = 9;

const runs = new Map<string, number[]>();
for (let round = 0; round < R; round++) {
  for (let k = 0; k < engines.length; k++) {
    const [name, e] = engines[(k + round) % engines.length]!;
    const payloads = Array.from({ length: N }, payload);
    const t0 = process.hrtime.bigint();
    for (const p of payloads) e.evaluate({ hook: 'toolCallResult', payload: p });
    runs.set(name, [...(runs.get(name) ?? []), Number(process.hrtime.bigint() - t0) / 1e3 / N]);
  }
}
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const base = median(runs.get(engines[0]![0])!);
console.log(`per decision, ${text.length} chars of benign text, median of ${R} rounds of ${N}:`);
for (const [name, r] of runs) console.log(`  ${name.padEnd(38)} ${median(r).toFixed(0).padStart(6)} µs  ${(median(r) / base).toFixed(2)}×`);
