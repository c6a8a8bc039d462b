import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../src/context/providers.js';
import { check, type Authorizer } from '../src/envoy/authorization.js';
import { Engine } from '../src/policy/engine.js';
import { compileSources } from '../src/policy/load.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { SecretBroker } from '../src/secrets/broker.js';
import { KnownSecrets } from '../src/secrets/known.js';
import { compileSecretSources } from '../src/secrets/load.js';
import { percentile, sampleNs, table, us } from './stats.js';

/**
 * Secret injection on the hot path: the ext_authz Check handler (parse → exfiltration guard →
 * evaluate → inject from the cache → CheckResponse object), in process, for the same request
 * to api.openai.com under the same policy shape, beside baselines from the same run:
 * - no broker: the rule sets a plain header (what a Check cost before secrets);
 * - guard only: a broker holding one value, so the exfiltration guard scans every header,
 *   and the rule still sets a plain header;
 * - inject: the rule injects the cached secret (`Bearer {value}`);
 * - the same with 100 secret values known to the guard.
 * Target: inject adds < 10 µs to a Check.
 */

const SECRET = 'sk-bench-0123456789abcdefghijklmnopqrstuvwxyzABCD';
const CALLS = 200_000;

const policy = (action: string) => `apiVersion: joch.dev/v1alpha1
kind: Secret
metadata: {name: openai-api-key}
spec:
  env: {name: BENCH_OPENAI_KEY}
---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: provider-keys, namespace: support-platform}
spec:
  appliesTo: {agents: {selector: {matchLabels: {env: prod}}}}
  egress:
    allow: [{hosts: [api.openai.com, "*.anthropic.com"]}]
  rules:
    - id: key
      when: {destination.host: api.openai.com}
      action: ${action}
`;

function request(): object {
  const headers: Record<string, string> = {
    ':authority': 'api.openai.com',
    ':method': 'POST',
    ':path': '/v1/chat/completions',
    ':scheme': 'https',
    authorization: 'Bearer agent-placeholder',
    'content-type': 'application/json',
    'user-agent': 'openai-python/1.54.0',
    accept: 'application/json',
    'x-request-id': '2f1e0d3c-4b5a-6978-8a9b-0c1d2e3f4a5b',
    'x-stainless-lang': 'python',
  };
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.1.0.5', port_value: 40001 } } },
      destination: { address: { socket_address: { address: '93.184.216.34', port_value: 443 } } },
      request: { http: { id: '1', method: 'POST', path: '/v1/chat/completions', host: 'api.openai.com', scheme: 'https', protocol: 'HTTP/1.1', headers } },
      context_extensions: { namespace: 'support-platform', environment: 'prod', agent: 'support-bot', 'label.env': 'prod' },
    },
  };
}

async function authorizer(action: string, withBroker: boolean, otherValues = 0): Promise<Authorizer> {
  const text = policy(action);
  const engine = new Engine(new PolicySet(compileSources([{ file: 'bench.yaml', text }]).policies));
  const base = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]) };
  if (!withBroker) return base;
  const broker = new SecretBroker(compileSecretSources([{ file: 'bench.yaml', text }]).secrets, { env: { BENCH_OPENAI_KEY: SECRET }, known: new KnownSecrets() });
  await broker.warm();
  for (let i = 0; i < otherValues; i++) broker.known.add(`sk-other-${i}-${SECRET.slice(10)}`);
  return { ...base, secrets: broker };
}

export async function run(): Promise<void> {
  const plain = '{headers: {set: {authorization: "Bearer placeholder"}}}';
  const inject = '{inject: {header: authorization, secret: openai-api-key, format: "Bearer {value}"}}';
  const cases: [string, Authorizer][] = [
    ['no broker, header set', await authorizer(plain, false)],
    ['guard only, header set', await authorizer(plain, true)],
    ['inject from cache', await authorizer(inject, true)],
    ['inject, 100 secrets known', await authorizer(inject, true, 99)],
  ];
  const msgs = [request()];
  for (const [, a] of cases) {
    const r = check(a, msgs[0] as never);
    if (r instanceof Promise) throw new Error('bench: the warm path must answer synchronously');
    if ((r.response as { status?: { code?: number } }).status?.code !== 0) throw new Error(`bench: expected an allow, got ${r.decision.reason}`);
    for (let i = 0; i < 100_000; i++) check(a, msgs[0] as never); // warm up
  }
  // Interleaved rounds, each starting with a different case, so drift (other processes, GC,
  // JIT state) hits every case alike.
  const ROUNDS = 12;
  const samples = cases.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < cases.length; k++) {
      const i = (round + k) % cases.length;
      const a = (cases[i] as [string, Authorizer])[1];
      const s = sampleNs(msgs, (m) => check(a, m as never), Math.floor(CALLS / ROUNDS));
      (samples[i] as number[]).push(...s);
    }
  }
  const sorted = samples.map((s) => Float64Array.from(s).sort());
  const base = sorted[0] as Float64Array;
  const rows = cases.map(([name], i) => {
    const s = sorted[i] as Float64Array;
    return [name, us(percentile(s, 50)), us(percentile(s, 99)), us(percentile(s, 50) - percentile(base, 50)), us(percentile(s, 99) - percentile(base, 99))];
  });
  console.log('\nSecret injection: ext_authz Check handler in process (µs); baseline = the same Check with no broker (target: inject adds < 10 µs)');
  console.log(table(['case', 'p50', 'p99', 'p50 added', 'p99 added'], rows));
}
