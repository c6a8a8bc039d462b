import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { startAdmin, type AdminUnderTest } from '../admin/helpers.js';
import { startIssuer, type TestIssuer } from '../identity/oidc-issuer.js';
import { policyYaml } from '../state/fixtures.js';
import { cliRunner } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'joch-cli-state-'));
const write = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

let issuer: TestIssuer;
let admin: AdminUnderTest;
const tokenFile: Record<string, string> = {};

beforeAll(async () => {
  issuer = await startIssuer();
  admin = await startAdmin({ issuer });
  for (const who of ['alice', 'bob', 'dave']) tokenFile[who] = write(`${who}.token`, `${await issuer.token(who)}\n`);
});
afterAll(async () => {
  await admin.close();
  await issuer.close();
});

const joch = cliRunner(() => admin.url, tokenFile);

describe('joch apply / promote / rollback / audit against the admin API', () => {
  it('apply stores versions; a staging operator is refused in prod; invalid files print file:line:col', async () => {
    const file = write('no-shell.yaml', policyYaml('no-shell', 'shell'));
    expect(await joch('alice', 'apply', '-f', file, '--env', 'staging')).toMatchObject({ code: 0, out: 'payments/no-shell: applied as v1 in staging\n' });
    expect(await joch('alice', 'apply', '-f', file, '--env', 'staging')).toMatchObject({ code: 0, out: 'payments/no-shell: unchanged (v1) in staging\n' });
    const prod = await joch('alice', 'apply', '-f', file, '--env', 'prod');
    expect(prod.code).toBe(1);
    expect(prod.err).toContain('joch apply: JOCH_FORBIDDEN: alice may not apply');
    const bad = write('bad.yaml', policyYaml('bad', 'x').replace('action: deny', 'action: explode'));
    const invalid = await joch('alice', 'apply', '-f', bad, '--env', 'staging');
    expect(invalid.code).toBe(1);
    expect(invalid.err).toContain(`${bad}:10:`);
    writeFileSync(file, policyYaml('no-shell', 'bash'));
    expect(await joch('alice', 'apply', '-f', file, '--env', 'staging')).toMatchObject({ code: 0, out: 'payments/no-shell: applied as v2 in staging\n' });
  });

  it('promote needs the approver role in the target; rollback makes an earlier version current', async () => {
    expect((await joch('alice', 'promote', 'policy', 'no-shell', '-n', 'payments', '--from', 'staging', '--to', 'prod')).code).toBe(1);
    expect(await joch('bob', 'promote', 'policy', 'no-shell', '-n', 'payments', '--from', 'staging', '--to', 'prod')).toMatchObject({ code: 0, out: 'payments/no-shell: promoted from staging to prod as v1\n' });
    expect(await joch('alice', 'rollback', 'policy', 'no-shell', '-n', 'payments', '--env', 'staging')).toMatchObject({ code: 0, out: 'payments/no-shell: rolled back in staging; now v3\n' });
    expect((await admin.repo.get('default', 'staging', { namespace: 'payments', name: 'no-shell' }))?.resource.spec.rules?.[0]?.when).toEqual({ 'tool.name': 'shell' });
    expect(await joch('alice', 'rollback', 'policy', 'no-shell', '-n', 'payments', '--env', 'staging', '--to-version', '9')).toMatchObject({ code: 1, err: expect.stringContaining('JOCH_ROLLBACK_VERSION') });
  });

  it('audit verify and export (JSON Lines and OCSF)', async () => {
    await admin.audit.flush();
    expect(await joch('dave', 'audit', 'verify')).toMatchObject({ code: 0, out: expect.stringMatching(/^tenant default: \d+ records verify; head [0-9a-f]{64}; 0 signed checkpoint\(s\) match\n$/) });
    const jsonl = await joch('dave', 'audit', 'export');
    const records = jsonl.out.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(records.map((r) => r.type)).toEqual(expect.arrayContaining(['policy.apply', 'policy.promote', 'policy.rollback', 'admin.denied', 'admin.request']));
    const out = join(dir, 'ocsf.jsonl');
    expect(await joch('dave', 'audit', 'export', '--format', 'ocsf', '-o', out)).toMatchObject({ code: 0, out: '' });
    expect(readFileSync(out, 'utf8').trim().split('\n').every((l) => (JSON.parse(l) as { class_uid: number }).class_uid === 6003)).toBe(true);
    expect(await joch('alice', 'audit', 'verify')).toMatchObject({ code: 1, err: expect.stringContaining('JOCH_FORBIDDEN') });
  });

  it('usage errors exit 2; an unreachable server and a missing token exit 1 with a clear message', async () => {
    expect((await joch('bob', 'promote', 'no-shell', '--from', 'a', '--to', 'b')).code).toBe(2);
    expect((await joch('alice', 'apply', '-f', dir)).code).toBe(2);
    expect((await joch('dave', 'audit', 'frobnicate')).code).toBe(2);
    expect(await joch(undefined, 'audit', 'verify')).toMatchObject({ code: 1, err: expect.stringContaining('JOCH_AUTH_REQUIRED') });
    let err = '';
    const code = await main(['audit', 'verify', '--server', 'http://127.0.0.1:1'], { out: () => undefined, err: (t) => void (err += t), readStdin: async () => '' });
    expect(code).toBe(1);
    expect(err).toContain('JOCH_UNREACHABLE');
  });
});
