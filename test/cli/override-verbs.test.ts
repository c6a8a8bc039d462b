import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DecisionContext } from '../../src/context/types.js';
import { startAdmin, type AdminUnderTest } from '../admin/helpers.js';
import { startIssuer, type TestIssuer } from '../identity/oidc-issuer.js';
import { engineFor } from '../policy/helpers.js';
import { eventually } from '../state/redis-helpers.js';
import { SENDS_POLICY } from '../overrides/fixtures.js';
import { cliRunner } from './run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'joch-cli-overrides-'));
let issuer: TestIssuer;
let admin: AdminUnderTest;
const tokenFile: Record<string, string> = {};
const engine = engineFor(SENDS_POLICY);

beforeAll(async () => {
  issuer = await startIssuer();
  admin = await startAdmin({ issuer });
  for (const who of ['alice', 'bob', 'eve', 'pat']) {
    const path = join(dir, `${who}.token`);
    writeFileSync(path, `${await issuer.token(who, who === 'pat' ? { groups: ['platform'] } : {})}\n`);
    tokenFile[who] = path;
  }
});
afterAll(async () => {
  await admin.close();
  await issuer.close();
});

const joch = cliRunner(() => admin.url, tokenFile);

async function denial(tool: string, args: unknown): Promise<{ id: string; ctx: DecisionContext }> {
  const ctx: DecisionContext = { hook: 'toolCallRequest', namespace: 'payments', agent: { id: 'bot' }, tool: { name: tool, arguments: args } };
  const d = await admin.grants.review(ctx, engine.evaluate(ctx));
  await eventually(async () => (await admin.grants.ticket('default', d.decisionId)) !== undefined, 2000, 'ticket');
  return { id: d.decisionId, ctx };
}

describe('joch approve / override / disable-rule', () => {
  it('approve: usage errors, a forbidden role, then an approval that lets the request through once', async () => {
    const { id, ctx } = await denial('send_email', { to: 'a' });
    const list = await joch('bob', 'approve', '--list');
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`^${id}  approve/reject  agent bot  payments/sends rule send  .+  denied \\S+, open until \\S+$`, 'm'));
    expect(await joch('bob', 'approve', '--list', id)).toMatchObject({ code: 2, err: expect.stringContaining('--list takes no DECISION_ID') });
    expect(await joch('bob', 'approve', id, '--limit', '5', '--reason', 'x')).toMatchObject({ code: 2, err: expect.stringContaining('--limit goes with --list') });
    expect(await joch('bob', 'approve', id)).toMatchObject({ code: 2, err: expect.stringContaining('--reason TEXT is required') });
    expect(await joch('bob', 'approve', '--reason', 'x')).toMatchObject({ code: 2, err: expect.stringContaining('exactly one DECISION_ID') });
    expect(await joch('alice', 'approve', id, '--reason', 'x')).toMatchObject({ code: 1, err: expect.stringContaining('JOCH_FORBIDDEN') });
    const ok = await joch('bob', 'approve', id, '--reason', 'confirmed', '--ttl', '10m');
    expect(ok).toMatchObject({ code: 0, out: expect.stringContaining(`decision ${id} (payments/sends rule send): approved; the same request from bot passes once until`) });
    expect(await admin.grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'allow' });
    expect(await joch('bob', 'approve', id, '--reason', 'again')).toMatchObject({ code: 1, err: expect.stringContaining('JOCH_ALREADY_DECIDED') });
    const other = await denial('send_email', { to: 'b' });
    expect(await joch('bob', 'approve', other.id, '--reject', '--reason', 'no')).toMatchObject({ code: 0, out: `decision ${other.id} (payments/sends rule send): rejected\n` });
  });

  it('override: break-glass only', async () => {
    const { id, ctx } = await denial('shell', { cmd: 'x' });
    expect(await joch('pat', 'override', id, '--reason', 'incident')).toMatchObject({ code: 1, err: expect.stringContaining('JOCH_FORBIDDEN') });
    expect(await joch('eve', 'override', id, '--reason', 'incident 9')).toMatchObject({ code: 0, out: expect.stringContaining('overridden') });
    expect(await admin.grants.review(ctx, engine.evaluate(ctx))).toMatchObject({ decision: 'allow', reason: 'break-glass-override' });
  });

  it('disable-rule: disables, lists and ends a window; checks its flags', async () => {
    expect(await joch('pat', 'disable-rule', 'payments/sends', 'shell', '--for', '2h', '--reason', 'r')).toMatchObject({ code: 2, err: expect.stringContaining('--follow-up TEXT is required') });
    expect(await joch('pat', 'disable-rule', 'payments/sends', 'shell', '--follow-up', 'T-1', '--reason', 'r')).toMatchObject({ code: 2, err: expect.stringContaining('--for DURATION or --until TIME') });
    expect(await joch('pat', 'disable-rule', 'a/b/c', 'shell', '--for', '2h', '--follow-up', 'T-1', '--reason', 'r')).toMatchObject({ code: 2 });
    expect(await joch('pat', 'disable-rule', 'payments/sends', 'shell', '--for', '48h', '--follow-up', 'T-1', '--reason', 'r')).toMatchObject({ code: 1, err: expect.stringContaining('between 1s and 24h') });
    expect(await joch('bob', 'disable-rule', 'payments/sends', 'shell', '--for', '2h', '--follow-up', 'T-1', '--reason', 'r')).toMatchObject({ code: 1, err: expect.stringContaining('JOCH_FORBIDDEN') });
    const ok = await joch('pat', 'disable-rule', 'payments/sends', 'shell', '--for', '2h', '--follow-up', 'OPS-1 fix the rule', '--reason', 'blocks the runbook');
    expect(ok).toMatchObject({ code: 0, out: expect.stringMatching(/^payments\/sends rule shell: disabled in prod until \S+ \(follow-up: OPS-1 fix the rule\)\n$/) });
    expect(await joch('pat', 'disable-rule', '--list')).toMatchObject({ code: 0, out: expect.stringContaining('payments/sends shell  until') });
    expect(await joch('pat', 'disable-rule', 'payments/sends', 'shell', '--end', '--reason', 'fixed')).toMatchObject({ code: 0, out: 'payments/sends rule shell: enabled again in prod\n' });
    expect(await joch('pat', 'disable-rule', '--list')).toMatchObject({ code: 0, out: 'no rules disabled in prod\n' });
  });

  it('every verb has complete --help', async () => {
    for (const [verb, flags] of [
      ['approve', ['--reason', '--reject', '--ttl', '--server', '--token-file', '--tenant']],
      ['override', ['--reason', '--ttl', '--server', '--token-file', '--tenant']],
      ['disable-rule', ['--for', '--until', '--follow-up', '--reason', '--end', '--list', '--environment', '--server', '--token-file', '--tenant']],
    ] as const) {
      const r = await joch(undefined, verb, '--help');
      expect(r.code).toBe(0);
      for (const f of flags) expect(r.out).toContain(f);
    }
    const top = await joch(undefined, '--help');
    expect(top.out).toMatch(/approve\s+approve/);
    expect(top.out).toContain('disable-rule');
  });
});
