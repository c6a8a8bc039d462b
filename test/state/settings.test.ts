import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv, readConfigFile, resolveConfig } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'joch-settings-'));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('state settings in the gateway config', () => {
  it('defaults to the memory store, audit on, policies from folders, no admin auth', () => {
    expect(resolveConfig().state).toEqual({
      store: { kind: 'memory' },
      audit: { enabled: true, maxBuffered: 100_000, maxHeldInMemory: 100_000, batchSize: 512, worker: true, checkpointIntervalSeconds: 60 },
      policySource: { kind: 'folder' },
      adminAuth: {},
      tenant: 'default',
    });
  });

  it('reads Redis (URL, Sentinel, Cluster), audit, policy source and admin auth from a file; env overrides', () => {
    const path = file(
      'gateway.yaml',
      `store:
  sentinel: {name: mymaster, sentinels: ["10.0.0.1:26379", "10.0.0.2:26379"]}
  keyPrefix: "prod:"
audit: {file: ./audit, checkpointIntervalSeconds: 0}
policySource: {kind: store, environment: prod}
tenant: acme
adminAuth:
  oidc: {issuer: https://idp.example.com, audience: joch-admin}
  bindings:
    - {subjects: [group:sre], role: admin, namespaces: ["*"], environments: ["*"]}
`,
    );
    const state = resolveConfig(readConfigFile(path)).state;
    expect(state.store).toEqual({ kind: 'redis', redis: { sentinel: { name: 'mymaster', sentinels: [{ host: '10.0.0.1', port: 26379 }, { host: '10.0.0.2', port: 26379 }] }, keyPrefix: 'prod:' } });
    expect(state.policySource).toEqual({ kind: 'store', tenant: 'acme', environment: 'prod' });
    expect(state.audit).toMatchObject({ file: './audit', checkpointIntervalSeconds: 0 });
    const cluster = resolveConfig({ store: { cluster: { nodes: ['r1:7000', '[::1]:7001'] } } }).state.store;
    expect(cluster).toEqual({ kind: 'redis', redis: { cluster: { nodes: [{ host: 'r1', port: 7000 }, { host: '::1', port: 7001 }] } } });
    const env = configFromEnv({ JOCH_STORE_URL: 'redis://127.0.0.1:6379/2', JOCH_ADMIN_TOKEN: 'from-the-environment-123', JOCH_TENANT: 'globex' });
    const merged = resolveConfig(readConfigFile(path), env).state;
    expect(merged.store).toMatchObject({ kind: 'redis', redis: { url: 'redis://127.0.0.1:6379/2' } });
    expect(merged.adminAuth.token).toBe('from-the-environment-123');
    expect(merged.tenant).toBe('globex');
  });

  it('rejects bad settings with file:line:col', () => {
    const path = file('bad.yaml', 'store:\n  url: http://127.0.0.1:6379\nadminAuth:\n  bindings:\n    - {subjects: [alice], role: root, namespaces: [x], environments: [y]}\n');
    let message = '';
    try {
      readConfigFile(path);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(`${path}:2:8`);
    expect(message).toMatch(/bad\.yaml:5:\d+/);
    expect(() => resolveConfig({ tenant: 'no:colons' })).toThrow(expect.objectContaining({ code: 'JOCH_TENANT_INVALID' }));
  });
});
