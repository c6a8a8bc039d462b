import { GCProfiler } from 'node:v8';
import type { DecisionContext } from '../src/context/types.js';
import { Engine } from '../src/policy/engine.js';
import { compileSources } from '../src/policy/load.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { percentile, ratio, settle, table, throughput, us } from './stats.js';

/**
 * Policy evaluation: p50/p99 latency and throughput per decision with 10, 1,000 and 10,000
 * generated policies (10 rules each, realistic selectors and conditions over 100
 * namespaces), beside a baseline measured in the same run: JSON.parse of the context.
 * A second table keeps one namespace at 10 policies while other namespaces grow.
 * Beside each eval figure: the collections that ran while it was timed, and above the table
 * the clock's own cost, so a reader can tell a slow decision from a pause or timer noise.
 */

const NAMESPACES = 100;
const TOOLS = ['send_email', 'search', 'fetch_url', 'create_ticket', 'shell', 'query_db', 'upload_file', 'calendar'];
const PROVIDERS = ['openai', 'anthropic', 'google', 'mistral', 'shady-llm'];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** One generated policy: 10 rules mixing equality, lists, globs, comparisons, regexes, combinators. */
function policyYaml(i: number, namespace: string, r: () => number): string {
  const rules = [
    `    - id: r0\n      when: {tool.name: ${pick(r, TOOLS)}, environment: prod}\n      action: deny\n      reason: tool-blocked`,
    `    - id: r1\n      when: {tool.sideEffect: external_write, agent.labels.tier: {in: [gold, silver]}}\n      require: {approval: human}`,
    `    - id: r2\n      when: {destination.host: "*.blocked-${i}.example.com"}\n      action: deny`,
    `    - id: r3\n      when: {cost.runUsd: ">${5 + (i % 20)}"}\n      action: deny\n      reason: budget-exceeded`,
    `    - id: r4\n      when: {model.provider: {notIn: [openai, anthropic, google]}, hook: message}\n      action: deny\n      reason: model-not-permitted`,
    `    - id: r5\n      when: {request.path: "/admin/**", request.method: [POST, DELETE]}\n      action: deny`,
    `    - id: r6\n      when: {tool.name: {regex: "^(drop|delete)_table_${i}$"}}\n      action: deny`,
    `    - id: r7\n      when:\n        any:\n          - mcp.server: "evil-${i}.example.net"\n          - agent.name: {glob: "test-agent-${i}-*"}\n      action: deny`,
    `    - id: r8\n      when: {cost.dayUsd: ">=${100 + i}", environment: {not: dev}}\n      action: deny\n      reason: daily-budget`,
    `    - id: r9\n      when: {hook: [toolCallResult, mcpInbound], data.contains: injection}\n      action: deny\n      reason: prompt-injection`,
  ];
  const env = pick(r, ['prod', 'staging']);
  return `---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: gen-${i}
  namespace: ${namespace}
spec:
  appliesTo:
    agents:
      selector:
        matchLabels: {env: ${env}}
        matchExpressions:
          - {key: team, operator: In, values: [team-${i % 7}, team-${(i + 1) % 7}, team-${(i + 2) % 7}]}
  rules:
${rules.join('\n')}
`;
}

/**
 * The generated policies as one multi-document YAML text: `count` policies per namespace, in
 * order, deterministic for a seed. The one place policies are generated: `engineWith` compiles
 * it in memory; check-grpc.ts writes it to a file for a real gateway to load.
 */
export function generatedPoliciesYaml(specs: readonly { namespace: string; count: number }[], seed: number): string {
  const r = rng(seed);
  let i = 0;
  const docs: string[] = [];
  for (const { namespace, count } of specs) for (let k = 0; k < count; k++) docs.push(policyYaml(i++, namespace, r));
  return docs.join('');
}

export function engineWith(specs: { namespace: string; count: number }[], seed: number): Engine {
  const result = compileSources([{ file: 'generated.yaml', text: generatedPoliciesYaml(specs, seed) }]);
  if (!result.ok) throw new Error(`generated policies did not compile: ${result.problems[0]?.message}`);
  return new Engine(new PolicySet(result.policies));
}

export function contexts(namespaces: readonly string[], seed: number): { ctx: DecisionContext; json: string }[] {
  const r = rng(seed);
  const out: { ctx: DecisionContext; json: string }[] = [];
  for (let i = 0; i < 512; i++) {
    const ctx: DecisionContext = {
      hook: pick(r, ['toolCallRequest', 'message', 'egress', 'toolCallResult'] as const),
      tenant: 'acme',
      namespace: pick(r, namespaces),
      environment: pick(r, ['prod', 'staging', 'dev']),
      agent: { name: `agent-${i % 13}`, labels: { env: pick(r, ['prod', 'staging']), team: `team-${i % 7}`, tier: pick(r, ['gold', 'bronze']) } },
      destination: { host: pick(r, ['api.openai.com', 'api.blocked-3.example.com', 'mcp.internal.example.com']), port: 443 },
      request: { method: pick(r, ['GET', 'POST']), path: pick(r, ['/v1/chat/completions', '/admin/users', '/search?q=x']) },
      tool: { name: pick(r, TOOLS), sideEffect: pick(r, ['read', 'external_write']) },
      model: { provider: pick(r, PROVIDERS), name: 'm-1' },
      cost: { runUsd: Math.floor(r() * 3000) / 100, dayUsd: Math.floor(r() * 20000) / 100 },
      payload: { text: `Customer asked about order ${i}; summary follows. The weather is fine and the ticket is resolved.` },
    };
    out.push({ ctx, json: JSON.stringify(ctx) });
  }
  return out;
}

const CALLS = 200_000;

/** Collections that ran while a figure was being timed: how many, and how long they paused. */
interface GcSummary {
  readonly count: number;
  readonly totalMs: number;
  readonly maxUs: number;
}

/**
 * Times `fn` once per item, per call, returning sorted nanoseconds and the collections that
 * ran meanwhile. The clock is `performance.now()`: a double, so timing allocates nothing
 * (`process.hrtime.bigint()` allocates two BigInts per sample, which the timed code's
 * collections would then pay for); its own cost is reported as the "clock" row. A pause
 * inflates only the samples it lands in, so fewer collections than 1% of the calls cannot
 * by themselves make the p99.
 */
function sample<T>(items: readonly T[], fn: (item: T) => unknown, calls: number): { ns: Float64Array; gc: GcSummary } {
  settle();
  const out = new Float64Array(calls);
  let sink = 0;
  const profiler = new GCProfiler();
  profiler.start();
  for (let i = 0; i < calls; i++) {
    const item = items[i % items.length] as T;
    const t0 = performance.now();
    const r = fn(item);
    out[i] = (performance.now() - t0) * 1e6;
    if (r === undefined) sink++;
  }
  const stats = profiler.stop().statistics;
  if (sink < 0) console.log(sink); // keeps results observable so the work is not optimised away
  const costs = stats.map((g) => g.cost); // microseconds
  return {
    ns: out.sort(),
    gc: { count: costs.length, totalMs: costs.reduce((a, b) => a + b, 0) / 1000, maxUs: Math.max(0, ...costs) },
  };
}

const gcText = (g: GcSummary): string => `${g.count} (${g.totalMs.toFixed(1)} ms, max ${Math.round(g.maxUs)} µs)`;

function measure(engine: Engine, items: { ctx: DecisionContext; json: string }[]) {
  const ctxs = items.map((x) => x.ctx);
  const jsons = items.map((x) => x.json);
  for (let i = 0; i < 200_000; i++) engine.evaluate(ctxs[i % ctxs.length] as DecisionContext); // warm up: every policy's code paths get hot
  const base = sample(jsons, (s) => JSON.parse(s), CALLS).ns;
  const { ns: evalNs, gc } = sample(ctxs, (c) => engine.evaluate(c), CALLS);
  const baseTput = throughput(jsons, (s) => JSON.parse(s), 1000);
  const evalTput = throughput(ctxs, (c) => engine.evaluate(c), 1000);
  return { base, evalNs, gc, baseTput, evalTput };
}

/** The clock's own cost: timing a call that does nothing. */
function clockFloor(): Float64Array {
  return sample([0], (x) => x, CALLS).ns;
}

export function run(): void {
  const namespaces = Array.from({ length: NAMESPACES }, (_, i) => `ns-${i}`);
  const rows: (string | number)[][] = [];
  for (const total of [10, 1_000, 10_000]) {
    const perNs = Math.ceil(total / NAMESPACES);
    const specs = namespaces.slice(0, Math.min(NAMESPACES, total)).map((namespace) => ({ namespace, count: perNs }));
    const engine = engineWith(specs, total);
    const m = measure(engine, contexts(specs.map((s) => s.namespace), 7));
    rows.push([
      `${engine.policies.policies.length} policies / ${engine.policies.policies.length * 10} rules`,
      us(percentile(m.base, 50)),
      us(percentile(m.base, 99)),
      us(percentile(m.evalNs, 50)),
      us(percentile(m.evalNs, 99)),
      ratio(percentile(m.evalNs, 99), percentile(m.base, 99)),
      gcText(m.gc),
      Math.round(m.evalTput).toLocaleString('en-US'),
      ratio(m.evalTput, m.baseTput),
    ]);
  }
  const clock = clockFloor();
  console.log('\nPolicy evaluation per decision (µs); baseline = JSON.parse of the same context');
  console.log(`clock (timing an empty call): p50 ${us(percentile(clock, 50))}, p99 ${us(percentile(clock, 99))}`);
  console.log(
    table(['policy set', 'base p50', 'base p99', 'eval p50', 'eval p99', 'p99 vs base', 'GCs while timing eval', 'eval decisions/s', 'tput vs base'], rows),
  );

  const flat: (string | number)[][] = [];
  let first = 0;
  for (const others of [0, 1_000, 10_000]) {
    const specs = [{ namespace: 'target', count: 10 }, ...namespaces.map((namespace) => ({ namespace, count: others / NAMESPACES }))];
    const engine = engineWith(specs.filter((s) => s.count > 0), 11);
    const m = measure(engine, contexts(['target'], 13));
    const p99 = percentile(m.evalNs, 99);
    if (others === 0) first = p99;
    flat.push([
      others.toLocaleString('en-US'),
      us(percentile(m.base, 99)),
      us(percentile(m.evalNs, 50)),
      us(p99),
      ratio(p99, percentile(m.base, 99)),
      ratio(p99, first),
      gcText(m.gc),
    ]);
  }
  console.log('\nOne namespace with 10 policies while policies in other namespaces grow (µs)');
  console.log(table(['policies elsewhere', 'base p99', 'eval p50', 'eval p99', 'p99 vs base', 'p99 vs none elsewhere', 'GCs while timing eval'], flat));
}
