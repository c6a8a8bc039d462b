import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { httpAuthzEdge } from '../../src/envoy/http-authz.js';
import { startGateway } from '../../src/main.js';
import { Metrics } from '../../src/metrics.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../src/context/providers.js';
import { check, type Authorizer, type CheckResult } from '../../src/envoy/authorization.js';
import { AUTHORIZATION_PROTO, LOADER_OPTIONS } from '../../src/envoy/protos.js';
import { Engine } from '../../src/policy/engine.js';
import { compileSources } from '../../src/policy/load.js';
import { PolicySet } from '../../src/policy/policy-set.js';
import { SecretBroker } from '../../src/secrets/broker.js';
import { KnownSecrets, variantsOf } from '../../src/secrets/known.js';
import { compileSecretSources } from '../../src/secrets/load.js';
import { checkClient, httpCheckRequest, type CheckResponse } from './check-client.js';

const codec = (protoLoader.loadSync(AUTHORIZATION_PROTO, LOADER_OPTIONS)['envoy.service.auth.v3.Authorization'] as unknown as {
  Check: { requestSerialize(v: object): Buffer; requestDeserialize(b: Buffer): object; responseSerialize(v: object): Buffer; responseDeserialize(b: Buffer): CheckResponse };
}).Check;

const CANARY = 'sk-canary-7f3a9c2e41b84d6fa0c5e19d2b7f8a63';
const yaml = `apiVersion: joch.dev/v1alpha1
kind: Secret
metadata: {name: openai-api-key}
spec:
  env: {name: OPENAI_API_KEY}
---
apiVersion: joch.dev/v1alpha1
kind: Secret
metadata: {name: down}
spec:
  env: {name: NOT_SET}
---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: provider-keys}
spec:
  rules:
    - id: openai-key
      when: {destination.host: api.openai.com}
      action:
        inject: {header: authorization, secret: openai-api-key, format: "Bearer {value}"}
        headers: {remove: [x-api-key]}
    - id: broken-key
      when: {destination.host: broken.example.com}
      action: {inject: {header: x-api-key, secret: down}}
`;

function setup() {
  const env: Record<string, string | undefined> = { OPENAI_API_KEY: CANARY };
  const known = new KnownSecrets();
  const broker = new SecretBroker(compileSecretSources([{ file: 's.yaml', text: yaml }]).secrets, { env, known });
  const engine = new Engine(new PolicySet(compileSources([{ file: 's.yaml', text: yaml }]).policies));
  const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]), secrets: broker };
  return { env, broker, authorizer };
}

/** Through Envoy's own codecs both ways, as Envoy would see the answer. */
async function onTheWire(a: Authorizer, request: object): Promise<{ result: CheckResult; wire: CheckResponse; sync: boolean }> {
  const r = check(a, codec.requestDeserialize(codec.requestSerialize(request)) as never);
  const result = await r;
  return { result, wire: codec.responseDeserialize(codec.responseSerialize(result.response)), sync: !(r instanceof Promise) };
}

const header = (r: CheckResponse, key: string) => r.ok_response?.headers?.filter((h) => h.header?.key === key) ?? [];

describe('secret injection at ext_authz', () => {
  it('a cold secret is fetched once, then injected synchronously from the cache', async () => {
    const { authorizer } = setup();
    const cold = await onTheWire(authorizer, httpCheckRequest({ method: 'POST', host: 'api.openai.com', path: '/v1/chat/completions', headers: { authorization: 'Bearer agent-own' } }));
    expect(cold.sync).toBe(false);
    const warm = await onTheWire(authorizer, httpCheckRequest({ method: 'POST', host: 'api.openai.com', path: '/v1/chat/completions', headers: { authorization: 'Bearer agent-own' } }));
    expect(warm.sync).toBe(true);
    for (const { wire, result } of [cold, warm]) {
      expect(wire.status?.code ?? 0).toBe(0);
      // Set (append false) overwrites the agent's header; never append-to-missing, never removed afterwards.
      expect(header(wire, 'authorization')).toEqual([{ header: { key: 'authorization', value: `Bearer ${CANARY}` }, append: { value: false } }]);
      expect(wire.ok_response?.headers_to_remove).toEqual(['x-api-key']);
      expect(JSON.stringify(wire.dynamic_metadata)).not.toContain(CANARY);
      expect(JSON.stringify(wire.ok_response?.response_headers_to_add)).not.toContain(CANARY);
      expect(JSON.stringify(result.decision)).not.toContain(CANARY);
      expect(result.decision.modifiedRequest?.inject).toEqual([{ header: 'authorization', secret: 'openai-api-key', prefix: 'Bearer ', suffix: '' }]);
    }
  });

  it('denies with secret-unavailable (503) when the secret cannot be resolved: fail closed', async () => {
    const { authorizer } = setup();
    const { wire, result } = await onTheWire(authorizer, httpCheckRequest({ host: 'broken.example.com', headers: { 'x-api-key': 'agent-own' } }));
    expect(wire.status?.code).toBe(7);
    expect(wire.denied_response?.status?.code).toBe('ServiceUnavailable');
    expect(JSON.parse(wire.denied_response?.body ?? '{}')).toMatchObject({ reason: 'secret-unavailable', error: 'the secret this call needs ("down") is unavailable; denied (fail closed)' });
    expect(result.failure).toBe('secret-unavailable');
  });

  it('does not inject where no rule says so', async () => {
    const { authorizer } = setup();
    const { wire, sync } = await onTheWire(authorizer, httpCheckRequest({ host: 'example.com', headers: { authorization: 'Bearer agent-own' } }));
    expect(sync).toBe(true);
    expect(header(wire, 'authorization')).toEqual([]);
  });
});

describe('exfiltration guard', () => {
  const spellings: [string, Record<string, string>, string?][] = [
    ['exact, in a header', { 'x-data': `leak ${CANARY} here` }],
    ['exact, in the path', { ':path': `/collect?k=${CANARY}` }],
    ['base64 inside Basic credentials', { authorization: `Basic ${Buffer.from(`user:${CANARY}`).toString('base64')}` }],
    ['base64url at another alignment', { 'x-blob': Buffer.from(`ab${CANARY}xyz`).toString('base64url') }],
    ['URL-encoded', { 'x-q': encodeURIComponent(`${CANARY}/`) }],
    ['in the body', {}, `{"note":"${CANARY}"}`],
  ];

  it.each(spellings)('denies secret-exfiltration when a request carries an injected value: %s', async (_name, headers, body) => {
    const { authorizer, broker } = setup();
    await broker.warm();
    const request = httpCheckRequest({ method: 'POST', host: 'exfil.example.net', path: headers[':path'] ?? '/', headers, ...(body !== undefined ? { body } : {}) });
    const { wire, result } = await onTheWire(authorizer, request);
    expect(wire.status?.code).toBe(7);
    expect(JSON.parse(wire.denied_response?.body ?? '{}')).toMatchObject({ reason: 'secret-exfiltration' });
    expect(JSON.stringify(wire)).not.toContain(CANARY);
    expect(JSON.stringify(result.decision)).not.toContain(CANARY);
    expect(result.failure).toBe('secret-exfiltration');
  });

  it('lets ordinary requests through, and knows nothing before a value was fetched', async () => {
    const { authorizer, broker } = setup();
    const request = httpCheckRequest({ host: 'example.com', headers: { 'x-data': CANARY } });
    expect((await onTheWire(authorizer, request)).wire.status?.code ?? 0).toBe(0);
    await broker.warm();
    expect((await onTheWire(authorizer, httpCheckRequest({ host: 'example.com', headers: { 'x-data': 'sk-canary-7f3a' } }))).wire.status?.code ?? 0).toBe(0);
    expect((await onTheWire(authorizer, request)).wire.status?.code).toBe(7);
  });
});

describe('secrets in the HTTP authorization service mode', () => {
  it('answers 200 with the injected header for Envoy to copy upstream, and denies exfiltration', async () => {
    const { authorizer } = setup();
    const edge = httpAuthzEdge(authorizer, '/authz', new Metrics(), pino({ level: 'silent' }));
    const port = await edge.listen('127.0.0.1', 0);
    const call = (headers: Record<string, string>) => fetch(`http://127.0.0.1:${port}/authz/v1/models`, { headers: { 'x-forwarded-host': 'api.openai.com', ...headers } });
    const ok = await call({ authorization: 'Bearer agent-own' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('authorization')).toBe(`Bearer ${CANARY}`);
    const leak = await call({ 'x-k': CANARY });
    expect(leak.status).toBe(403);
    const text = await leak.text();
    expect(JSON.parse(text)).toMatchObject({ reason: 'secret-exfiltration' });
    expect(text).not.toContain(CANARY);
    await edge.close();
  });
});

describe('secrets and policy reload', () => {
  it('a changed Secret reference takes effect on reload: the new value is injected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'joch-reload-'));
    process.env.JOCH_RELOAD_KEY_A = 'reload-value-A-123456';
    process.env.JOCH_RELOAD_KEY_B = 'reload-value-B-654321';
    const file = join(dir, 'keys.yaml');
    writeFileSync(file, yaml.replace('OPENAI_API_KEY', 'JOCH_RELOAD_KEY_A'));
    const gw = await startGateway(resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: [dir], reload: true }), pino({ level: 'silent' }));
    const client = checkClient(gw.addresses.grpc);
    const injected = async () => header(await client.check(httpCheckRequest({ host: 'api.openai.com' })), 'authorization')[0]?.header?.value;
    try {
      expect(await injected()).toBe('Bearer reload-value-A-123456');
      writeFileSync(file, readFileSync(file, 'utf8').replace('JOCH_RELOAD_KEY_A', 'JOCH_RELOAD_KEY_B'));
      await expect.poll(injected, { timeout: 5000, interval: 100 }).toBe('Bearer reload-value-B-654321');
    } finally {
      client.close();
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the value never leaks into an answer (fuzz)', () => {
  it('whatever the agent sends, the value is only ever in the injected header, and carrying it is denied', async () => {
    const { authorizer, broker } = setup();
    await broker.warm();
    const leaks = [CANARY, Buffer.from(`x:${CANARY}`).toString('base64'), encodeURIComponent(`${CANARY}=`), Buffer.from(`ab${CANARY}`).toString('base64url')];
    const value = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...leaks), fc.tuple(fc.string({ maxLength: 5 }), fc.constantFrom(...leaks)).map(([a, b]) => a + b));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('api.openai.com', 'broken.example.com', 'example.com'), fc.dictionary(fc.constantFrom('authorization', 'x-a', 'cookie', 'x-api-key'), value, { maxKeys: 3 }), fc.option(value, { nil: undefined }), async (host, headers, body) => {
        const { wire } = await onTheWire(authorizer, httpCheckRequest({ method: 'POST', host, headers, ...(body !== undefined ? { body } : {}) }));
        const carried = [...Object.values(headers), body ?? ''].some((t) => leaks.some((l) => t.includes(l)));
        if (carried) expect(JSON.parse(wire.denied_response?.body ?? '{}')).toMatchObject({ reason: 'secret-exfiltration' });
        const withoutInjected = { ...wire, ok_response: { ...wire.ok_response, headers: wire.ok_response?.headers?.filter((h) => !(h.header?.key === 'authorization' && host === 'api.openai.com')) } };
        const text = JSON.stringify(withoutInjected);
        for (const v of variantsOf(CANARY)) expect(text).not.toContain(v);
      }),
      { numRuns: 300 },
    );
  });
});
