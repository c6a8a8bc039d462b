import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../src/config.js';
import { startGateway, type Gateway } from '../src/main.js';
import { checkClient, httpCheckRequest, type CheckClient, type CheckResponse } from './envoy/check-client.js';

const quiet = pino({ level: 'silent' });
const prodSupport = { tenant: 'acme', namespace: 'support-platform', environment: 'prod', agent: 'support-bot', 'label.env': 'prod', 'label.team': 'support' };
const ephemeral = { grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0' };

const header = (r: CheckResponse, key: string) => r.ok_response?.headers?.find((h) => h.header?.key === key);

describe('the gateway process (policies/ on embedded defaults)', () => {
  let gw: Gateway;
  let client: CheckClient;
  beforeAll(async () => {
    gw = await startGateway(resolveConfig({ ...ephemeral, policies: ['policies'], reload: false }), quiet);
    client = checkClient(gw.addresses.grpc);
  });
  afterAll(async () => {
    client.close();
    await gw.close();
  });

  it('allows an allow-listed call, sets x-joch-decision-id and strips agent credentials', async () => {
    const r = await client.check(
      httpCheckRequest({ method: 'POST', host: 'api.openai.com', path: '/v1/chat/completions', headers: { authorization: 'Bearer agent-supplied' }, extensions: prodSupport }),
    );
    expect(r.status?.code ?? 0).toBe(0);
    expect(r.http_response).toBe('ok_response');
    const id = header(r, 'x-joch-decision-id');
    expect(id?.header?.value).toMatch(/^[0-9a-f-]{36}$/);
    // `append` is present and not true: Envoy overwrites (a false BoolValue decodes as {}).
    expect(id?.append).toBeDefined();
    expect(id?.append?.value ?? false).toBe(false);
    expect(r.ok_response?.headers_to_remove).toEqual(['authorization', 'x-api-key']);
    expect(r.ok_response?.response_headers_to_add?.[0]?.header).toEqual({ key: 'x-joch-decision-id', value: id?.header?.value });
    expect(r.dynamic_metadata?.fields).toMatchObject({
      decision: { stringValue: 'modify' },
      decision_id: { stringValue: id?.header?.value },
      policy_id: { stringValue: 'support-platform/support-egress' },
      rule_id: { stringValue: 'strip-agent-credentials' },
    });
  });

  it('denies egress to a host that is not allow-listed with a JSON body naming it', async () => {
    const r = await client.check(httpCheckRequest({ host: 'exfil.example.net', path: '/upload', extensions: prodSupport }));
    expect(r.status?.code).toBe(7);
    expect(r.http_response).toBe('denied_response');
    expect(r.denied_response?.status?.code).toBe('Forbidden');
    expect(r.denied_response?.headers?.map((h) => h.header)).toContainEqual({ key: 'content-type', value: 'application/json' });
    const body = JSON.parse(r.denied_response?.body ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({
      error: 'exfil.example.net:443 is not on the egress allow-list',
      reason: 'egress-not-allowlisted',
      policyId: 'support-egress',
      ruleId: 'egress',
    });
    expect(body.decisionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('applies policies only to the agents they select', async () => {
    const staging = await client.check(httpCheckRequest({ host: 'api.mistral.ai', path: '/v1/chat/completions', extensions: { ...prodSupport, 'label.env': 'staging' } }));
    expect(staging.status?.code ?? 0).toBe(0);
    const prod = await client.check(httpCheckRequest({ host: 'api.mistral.ai', path: '/v1/chat/completions', extensions: prodSupport }));
    expect(JSON.parse(prod.denied_response?.body ?? '{}')).toMatchObject({ reason: 'egress-not-allowlisted' });
  });

  it('denies a malformed CheckRequest clearly instead of failing', async () => {
    const r = await client.check({});
    expect(r.status?.code).toBe(7);
    expect(JSON.parse(r.denied_response?.body ?? '{}')).toMatchObject({ reason: 'malformed-check-request', error: 'the CheckRequest has no attributes' });
    const noHost = await client.check({ attributes: { request: { http: { method: 'GET', path: '/' } } } });
    expect(JSON.parse(noHost.denied_response?.body ?? '{}')).toMatchObject({ error: 'the HTTP request has no host (:authority)' });
  });

  it('denies when the TLS principal and the route disagree about the namespace', async () => {
    const r = await client.check(httpCheckRequest({ host: 'api.openai.com', extensions: prodSupport, principal: 'spiffe://cluster.local/ns/billing/sa/bot' }));
    expect(JSON.parse(r.denied_response?.body ?? '{}')).toMatchObject({ reason: 'identity-mismatch' });
    const agrees = await client.check(httpCheckRequest({ host: 'api.openai.com', extensions: prodSupport, principal: 'spiffe://cluster.local/ns/support-platform/sa/bot' }));
    expect(agrees.status?.code ?? 0).toBe(0);
  });

  it('decides opaque TLS connections from the network filter by SNI', async () => {
    const network = (sni: string) => ({
      attributes: {
        source: { address: { socket_address: { address: '10.1.0.5', port_value: 40002 } } },
        destination: { address: { socket_address: { address: '104.18.7.1', port_value: 443 } } },
        tls_session: { sni },
        context_extensions: prodSupport,
      },
    });
    expect((await client.check(network('api.anthropic.com'))).status?.code ?? 0).toBe(0);
    const denied = await client.check(network('exfil.example.net'));
    expect(denied.status).toMatchObject({ code: 7, message: 'sni exfil.example.net:443 is not on the egress allow-list' });
    expect(denied.http_response).toBeUndefined();
  });

  it('serves the HTTP authorization mode on its own port', async () => {
    const base = `http://127.0.0.1:${gw.addresses.http}`;
    const ok = await fetch(`${base}/authz/v1/chat/completions`, { method: 'POST', headers: { 'x-forwarded-host': 'api.openai.com' } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-joch-decision-id')).toMatch(/^[0-9a-f-]{36}$/);
    const denied = await fetch(`${base}/authz/`, { headers: { 'x-forwarded-host': 'api.openai.com', 'x-original-uri': '/v1/x' }, method: 'POST' });
    expect(denied.status).toBe(200); // no agent identity: the prod-only policies do not apply
    const identified = await fetch(`${base}/authz/upload`, {
      method: 'POST',
      headers: { 'x-forwarded-host': 'exfil.example.net', 'x-joch-identity-namespace': 'support-platform', 'x-joch-identity-label.env': 'prod' },
    });
    expect(identified.status).toBe(403);
    expect(identified.headers.get('content-type')).toBe('application/json');
    expect(await identified.json()).toMatchObject({ reason: 'egress-not-allowlisted', error: 'exfil.example.net:443 is not on the egress allow-list' });
    const outside = await fetch(`${base}/elsewhere`);
    expect(outside.status).toBe(403);
    expect(await outside.json()).toMatchObject({ reason: 'malformed-request' });
  });

  it('exposes health, readiness and Prometheus metrics on the admin port only', async () => {
    const admin = `http://127.0.0.1:${gw.addresses.admin}`;
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(/joch_decisions_total\{edge="authz_http",outcome="deny",policy="support-egress"\} [1-9]/);
    expect(metrics).toMatch(/joch_check_errors_total\{edge="authz_http",reason="malformed"\} 2/);
    expect(metrics).toContain('joch_check_duration_seconds_bucket');
    expect(metrics).toMatch(/joch_policies_loaded 6/);
    expect((await fetch(`http://127.0.0.1:${gw.addresses.http}/metrics`)).status).toBe(403);
  });
});

describe('policy reload', () => {
  it('picks up a change, and keeps the last good set when an edit is broken', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'joch-reload-'));
    cpSync('policies', dir, { recursive: true });
    const gw = await startGateway(resolveConfig({ ...ephemeral, policies: [dir] }), quiet);
    const client = checkClient(gw.addresses.grpc);
    const waitFor = async (pred: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 100 && !(await pred()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await pred()).toBe(true);
    };
    try {
      const before = gw.engine().policies.version;
      const file = join(dir, 'support-egress.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('"*.zendesk.com"', '"*.zendesk.com", exfil.example.net'));
      await waitFor(() => gw.engine().policies.version !== before);
      const r = await client.check(httpCheckRequest({ host: 'exfil.example.net', path: '/upload', extensions: prodSupport }));
      expect(r.status?.code ?? 0).toBe(0);

      const good = gw.engine().policies.version;
      writeFileSync(file, 'apiVersion: joch.dev/v1alpha1\nkind: Policy\nmetadata: {name: broken}\nspec: {rules: [{action: dny}]}\n');
      await waitFor(async () => /joch_policy_reloads_total\{result="error"\} [1-9]/.test(await gw.metrics.registry.metrics()));
      expect(gw.engine().policies.version).toBe(good);
    } finally {
      client.close();
      await gw.close();
    }
  });
});

describe('start-up', () => {
  it('refuses to start on invalid policies, logging each problem', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    await expect(startGateway(resolveConfig({ ...ephemeral, policies: ['test/fixtures/seed-policy.yaml'] }), log)).rejects.toMatchObject({ code: 'JOCH_POLICIES_INVALID' });
    expect(lines.join('')).toContain('seed-policy.yaml:24:9: JOCH_YAML_SYNTAX');
  });
  it('refuses a folder with no policy files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'joch-empty-'));
    await expect(startGateway(resolveConfig({ ...ephemeral, policies: [dir] }), quiet)).rejects.toMatchObject({ code: 'JOCH_POLICIES_INVALID' });
  });
});

describe('gRPC health checking (what Envoy health-checks the gateway with)', () => {
  it('answers SERVING for the gateway and the Authorization service', async () => {
    const grpc = await import('@grpc/grpc-js');
    const protoLoader = await import('@grpc/proto-loader');
    const { protoPath } = await import('grpc-health-check');
    const gw = await startGateway(resolveConfig({ ...ephemeral, policies: ['policies'], reload: false }), quiet);
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: new (addr: string, creds: unknown) => { check(req: object, cb: (e: Error | null, r: { status: string }) => void): void; close(): void } } } };
    };
    const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${gw.addresses.grpc}`, grpc.credentials.createInsecure());
    const ask = (service: string) => new Promise<string>((resolve, reject) => client.check({ service }, (e, r) => (e ? reject(e) : resolve(r.status))));
    try {
      expect(await ask('')).toBe('SERVING');
      expect(await ask('envoy.service.auth.v3.Authorization')).toBe('SERVING');
      await expect(ask('nope')).rejects.toMatchObject({ code: 5 });
    } finally {
      client.close();
      await gw.close();
    }
  });
});
