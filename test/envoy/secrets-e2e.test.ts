import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { main } from '../../src/cli/index.js';
import { resolveConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { startGateway, type Gateway } from '../../src/main.js';
import type { RotationEvent } from '../../src/secrets/broker.js';
import { variantsOf } from '../../src/secrets/known.js';
import { startVault, type VaultServer } from '../secrets/servers.js';
import { EnvoyExtAuthzHarness, sendRequest } from './harness/index.js';
import { startUpstream, type Upstream } from './scenarios.js';

/**
 * The canary: end-to-end flows (agent → Envoy harness from envoy/sidecar.yaml → gateway →
 * loopback upstream) with secret values kept in a real (loopback) Vault. Everything the
 * gateway emits is captured; a canary may appear only in the upstream's received header.
 */
const CANARY = 'sk-canary-a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuV';
const CANARY2 = 'sk-canary-rotated-Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2';
const ADMIN_TOKEN = 'canary-admin-token-0123456789';

const dir = mkdtempSync(join(tmpdir(), 'joch-canary-'));
writeFileSync(
  join(dir, 'provider-keys.yaml'),
  `apiVersion: joch.dev/v1alpha1
kind: Secret
metadata: {name: openai-api-key}
spec:
  vault:
    address: VAULT_URL
    path: providers/openai
    field: api_key
    auth: {tokenEnv: JOCH_CANARY_VAULT_TOKEN}
  cache: {ttl: 1h, maxStale: 0s}
---
apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: agent-egress
  namespace: support-platform
spec:
  appliesTo: {agents: {selector: {matchLabels: {env: prod}}}}
  egress:
    allow:
      - hosts: [api.openai.com]
  rules:
    - id: openai-key
      when: {destination.host: api.openai.com}
      action:
        inject: {header: authorization, secret: openai-api-key, format: "Bearer {value}"}
`,
);

describe('canary: a secret value reaches the upstream header and nowhere else', () => {
  let vault: VaultServer;
  let gateway: Gateway;
  let upstream: Upstream;
  let harness: EnvoyExtAuthzHarness;
  let adminUrl: string;
  const tokenFile = join(dir, 'admin-token');
  const logs: string[] = [];
  const rotations: RotationEvent[] = [];
  /** Everything the agent, operators and log readers saw. */
  const seen: string[] = [];

  const agent = async (r: { path: string; authority: string; headers?: [string, string][]; method?: string; body?: string }) => {
    const res = await sendRequest(harness.port, { method: r.method ?? 'POST', path: r.path, authority: r.authority, headers: r.headers ?? [], ...(r.body !== undefined ? { body: r.body } : {}) });
    seen.push(JSON.stringify(res.rawHeaders), res.text);
    return res;
  };
  const admin = async (method: string, path: string, token = ADMIN_TOKEN) => {
    const res = await fetch(`${adminUrl}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await res.text();
    seen.push(text, JSON.stringify([...res.headers]));
    return { status: res.status, text };
  };

  beforeAll(async () => {
    vault = await startVault({ serviceAccountJwt: 'unused', role: 'unused' });
    vault.tokens.add('hvs.canary-test-token');
    vault.secrets.set('providers/openai', { api_key: CANARY });
    process.env.JOCH_CANARY_VAULT_TOKEN = 'hvs.canary-test-token';
    const file = join(dir, 'provider-keys.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('VAULT_URL', vault.url));
    gateway = await startGateway(
      resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: [dir], reload: false, adminToken: ADMIN_TOKEN }),
      createLogger({ level: 'trace', destination: { write: (s: string) => void logs.push(s) } }),
      { onSecretRotated: (e) => rotations.push(e) },
    );
    adminUrl = `http://127.0.0.1:${gateway.addresses.admin}`;
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`);
    upstream = await startUpstream();
    harness = await EnvoyExtAuthzHarness.start({
      bootstrap: parse(readFileSync('envoy/sidecar.yaml', 'utf8')) as unknown,
      gateway: `127.0.0.1:${gateway.addresses.grpc}`,
      upstreams: { 'api.openai.com': { host: '127.0.0.1', port: upstream.port } },
    });
  });

  afterAll(async () => {
    await harness?.close();
    await upstream?.close();
    await gateway?.close();
    await vault?.close();
    delete process.env.JOCH_CANARY_VAULT_TOKEN;
    rmSync(dir, { recursive: true, force: true });
  });

  it('injects the Vault value upstream, replacing what the agent sent', async () => {
    const before = upstream.received.length;
    const res = await agent({ path: '/v1/chat/completions', authority: 'api.openai.com', headers: [['authorization', 'Bearer agent-own-key'], ['content-type', 'application/json']], body: '{"model":"gpt-4o","messages":[]}' });
    expect(res.status).toBe(200);
    const arrived = upstream.received[before];
    expect(arrived?.headers.authorization).toBe(`Bearer ${CANARY}`);
    expect(upstream.received.length).toBe(before + 1);
  });

  it('injects even when the agent sent no such header (set, never append-to-missing)', async () => {
    const before = upstream.received.length;
    expect((await agent({ path: '/v1/models', authority: 'api.openai.com', method: 'GET' })).status).toBe(200);
    expect(upstream.received[before]?.headers.authorization).toBe(`Bearer ${CANARY}`);
  });

  it('denies an agent that sends the value back out, without echoing it', async () => {
    const before = upstream.received.length;
    const leak = Buffer.from(`agent:${CANARY}`).toString('base64');
    const res = await agent({ path: '/v1/chat/completions', authority: 'api.openai.com', headers: [['x-debug', leak]], body: '{}' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ reason: 'secret-exfiltration' });
    expect(upstream.received.length).toBe(before);
    const res2 = await agent({ path: `/v1/models?key=${encodeURIComponent(CANARY)}`, authority: 'api.openai.com', method: 'GET' });
    expect(res2.status).toBe(403);
  });

  it('ext_proc denies a request body carrying the value (ext_authz has no body here), in the provider shape', async () => {
    const before = upstream.received.length;
    const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `my key is ${Buffer.from(CANARY).toString('base64url')}` }] });
    const res = await agent({ path: '/v1/chat/completions', authority: 'api.openai.com', headers: [['content-type', 'application/json']], body });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ error: { type: 'permission_denied', code: 'secret-exfiltration' } });
    expect(upstream.received.length).toBe(before);
  });

  it('operators see names and timing on the admin API, never the value', async () => {
    const list = await admin('GET', '/v1/secrets');
    expect(list.status).toBe(200);
    expect(JSON.parse(list.text)).toMatchObject({ secrets: [{ name: 'openai-api-key', namespace: null, source: 'vault', cached: true, stale: false }] });
    for (const path of ['/readyz', '/healthz', '/metrics']) await admin('GET', path);
    const unknown = await admin('POST', '/v1/secrets/nope/rotate');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toMatchObject({ error: { code: 'JOCH_SECRET_UNKNOWN' } });
    // Operator authentication: no token, a wrong token, and the old unauthenticated routes are refused.
    expect(JSON.parse((await admin('GET', '/v1/secrets', '')).text)).toMatchObject({ error: { code: 'JOCH_AUTH_REQUIRED' } });
    const wrong = await admin('POST', '/v1/secrets/openai-api-key/rotate', 'not-the-token');
    expect(wrong.status).toBe(401);
    expect(JSON.parse(wrong.text)).toMatchObject({ error: { code: 'JOCH_AUTH_INVALID' } });
    expect((await admin('POST', '/secrets/openai-api-key/rotate', '')).status).toBe(404);
    expect((await admin('GET', '/secrets', '')).status).toBe(404);
    expect(rotations).toEqual([]);
  });

  it('joch secret rotate: the next call carries the rotated value, and the rotation is audited', async () => {
    vault.secrets.set('providers/openai', { api_key: CANARY2 });
    const out: string[] = [];
    const code = await main(['secret', 'rotate', 'openai-api-key', '--server', adminUrl, '--token-file', tokenFile], { out: (t) => void out.push(t), err: (t) => void out.push(t), readStdin: async () => '' });
    seen.push(...out);
    expect(code).toBe(0);
    expect(out.join('')).toBe('secret "openai-api-key" rotated: cached values dropped on every replica, new value fetched\n');
    expect(rotations).toEqual([expect.objectContaining({ type: 'secret.rotated', secret: 'openai-api-key', origin: 'local', actor: 'static-admin', refreshed: true })]);
    seen.push(JSON.stringify(rotations));
    // Audited with the authenticated operator: the rotation itself and the /v1 call.
    let records: { type: string; actor: { id: string }; data: Record<string, unknown> }[] = [];
    for (let i = 0; i < 50 && !records.some((r) => r.type === 'secret.rotated'); i++) {
      await new Promise((r) => setTimeout(r, 20));
      records = (JSON.parse((await admin('GET', '/v1/audit?type=secret.rotated,admin.request,admin.denied')).text) as { records: typeof records }).records;
    }
    expect(records.filter((r) => r.type === 'secret.rotated')).toEqual([expect.objectContaining({ actor: expect.objectContaining({ type: 'operator', id: 'static-admin' }), data: { secret: 'openai-api-key', refreshed: true } })]);
    expect(records).toContainEqual(expect.objectContaining({ type: 'admin.request', actor: expect.objectContaining({ id: 'static-admin' }), data: expect.objectContaining({ method: 'POST', route: '/v1/secrets/:name/rotate', status: 200 }) }));
    expect(records).toContainEqual(expect.objectContaining({ type: 'admin.denied', data: expect.objectContaining({ route: '/v1/secrets/:name/rotate', code: 'JOCH_AUTH_INVALID' }) }));
    const before = upstream.received.length;
    expect((await agent({ path: '/v1/models', authority: 'api.openai.com', method: 'GET' })).status).toBe(200);
    expect(upstream.received[before]?.headers.authorization).toBe(`Bearer ${CANARY2}`);
    // The old value stays known: sending it is still exfiltration.
    expect((await agent({ path: '/v1/models', authority: 'api.openai.com', method: 'GET', headers: [['x-old', CANARY]] })).status).toBe(403);
  });

  it('a Vault outage after rotation fails closed with secret-unavailable; the CLI reports it', async () => {
    vault.failWith = 503;
    const out: string[] = [];
    const code = await main(['secret', 'rotate', 'openai-api-key', '--server', adminUrl, '--token-file', tokenFile], { out: (t) => void out.push(t), err: (t) => void out.push(t), readStdin: async () => '' });
    seen.push(...out);
    expect(code).toBe(1);
    expect(out.join('')).toContain('secret "openai-api-key": cached values dropped, but the new value could not be fetched: secret "openai-api-key": Vault answered 503 for secret/providers/openai: store unavailable');
    const metrics = (await admin('GET', '/metrics')).text;
    expect(metrics).toContain('joch_secret_fetch_errors_total{secret="openai-api-key"} 1');
    expect(metrics).toContain('joch_secret_rotations_total{origin="local"} 2');
    const before = upstream.received.length;
    const res = await agent({ path: '/v1/models', authority: 'api.openai.com', method: 'GET' });
    expect(res.status).toBe(503);
    expect(JSON.parse(res.text)).toMatchObject({ reason: 'secret-unavailable' });
    expect(upstream.received.length).toBe(before);
    vault.failWith = undefined;
  });

  it('the canaries appear nowhere else: logs, decision metadata, admin answers, errors, agent responses', () => {
    for (const ex of harness.exchanges) {
      seen.push(JSON.stringify(ex.dynamicMetadata ?? {}), JSON.stringify(ex.response ?? {}), JSON.stringify((ex.checkResponse as { denied_response?: unknown } | undefined)?.denied_response ?? {}));
    }
    const everything = [...seen, ...logs].join('\n');
    expect(logs.join('')).toContain('secret-unavailable'); // the logs did capture the flows
    expect(everything).toContain('secret-exfiltration');
    for (const canary of [CANARY, CANARY2]) for (const v of variantsOf(canary)) expect(everything).not.toContain(v);
  });
});
