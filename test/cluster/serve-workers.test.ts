import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkClient, httpCheckRequest } from '../envoy/check-client.js';
import { eventually, REDIS_URL, testPrefix } from '../state/redis-helpers.js';
import { OUTBOUND_POLICY as POLICY } from '../overrides/fixtures.js';

/**
 * `joch serve --workers 2` as an operator runs it (the built CLI), in memory mode and with
 * the Redis store: two worker processes decide on the shared ports; the primary keeps the
 * audit chain and the admin API (and, in memory mode, the store). Each check opens its own
 * connection, which the primary hands to the worker with the fewest, so every grant, disable
 * and audit record crosses a process boundary.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKEN = 'test-admin-token-workers-012345';
const ext = { namespace: 'support', environment: 'prod', agent: 'support-bot' };
/** A connection per client: grpc-js otherwise shares one between clients of the same target. */
const OWN_CONNECTION = { 'grpc.use_local_subchannel_pool': 1 };

interface Ready {
  grpc: number;
  http: number;
  admin: number;
  workers: number;
}

function describeServeWorkers(mode: 'memory' | 'redis'): void {
  let child: ChildProcess;
  let ready: Ready;
  let checks = 0;
  const exited = (): Promise<number | null> => new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

  const keys = testPrefix();
  /** Memory mode: the audit log's JSON Lines files, which outlive the gateway. */
  const auditDir = mkdtempSync(join(tmpdir(), 'joch-workers-audit-'));
  let policyDir: string;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'joch-workers-'));
    policyDir = dir;
    writeFileSync(join(dir, 'outbound.yaml'), POLICY);
    const config = join(mkdtempSync(join(tmpdir(), 'joch-workers-config-')), 'gateway.yaml');
    writeFileSync(config, mode === 'redis' ? `store: {url: "${REDIS_URL}", keyPrefix: "${keys.prefix}"}\n` : `audit: {file: "${auditDir}"}\n`);
    child = spawn(process.execPath, [join(ROOT, 'bin', 'joch.js'), 'serve', '-f', dir, '--config', config, '--workers', '2', '--grpc', '127.0.0.1:0', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0'], {
      env: { ...process.env, JOCH_ADMIN_TOKEN: TOKEN, JOCH_ENVIRONMENT: 'prod' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    ready = await new Promise<Ready>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no "joch gateway ready" line within 60 s')), 60_000);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const entry = JSON.parse(line) as Partial<Ready> & { msg?: string };
        if (entry.msg !== 'joch gateway ready') return;
        clearTimeout(timer);
        resolve(entry as Ready);
      });
      child.once('exit', (code) => reject(new Error(`joch serve exited (${code}) before it was ready`)));
    });
  }, 70_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGKILL');
      await exited();
    }
    await keys.cleanup();
  });

  async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`http://127.0.0.1:${ready.admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  /** One Check on a connection of its own. */
  async function check(host: string, path = '/charge', deadlineMs = 5000): Promise<{ allowed: boolean; decisionId: string | undefined }> {
    const client = checkClient(ready.grpc, OWN_CONNECTION);
    try {
      const r = await client.check(httpCheckRequest({ method: 'POST', host, path, extensions: ext }), deadlineMs);
      checks++;
      const headers = [...(r.denied_response?.headers ?? []), ...(r.ok_response?.headers ?? [])];
      return { allowed: (r.status?.code ?? 0) === 0, decisionId: headers.find((h) => h.header?.key === 'x-joch-decision-id')?.header?.value };
    } finally {
      client.close();
    }
  }

  type WorkerStatus = { id: number; pid: number; ready: boolean; connections: number };
  const workersOf = async (): Promise<{ status: number; workers: WorkerStatus[] }> => {
    const r = await admin('GET', '/readyz');
    return { status: r.status, workers: r.json.workers as WorkerStatus[] };
  };

  describe(`joch serve --workers 2 (${mode} store)`, () => {
    it('is ready with both workers serving, and decides on the shared gRPC port', async () => {
      expect(ready.workers).toBe(2);
      const { status, workers } = await workersOf();
      expect(status).toBe(200);
      expect(workers).toHaveLength(2);
      expect(workers.every((w) => w.ready && Number.isInteger(w.pid) && w.pid !== child.pid)).toBe(true);
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => check(i % 2 === 0 ? 'api.example.com' : 'blocked.example.com')));
      expect(results.map((r) => r.allowed)).toEqual(Array.from({ length: 16 }, (_, i) => i % 2 === 0));
      expect(results.every((r) => /^[0-9a-f-]{36}$/.test(r.decisionId ?? ''))).toBe(true);
    });

    it('spreads connections that arrive together evenly over the workers, and counts them closed', async () => {
      await eventually(async () => (await workersOf()).workers.every((w) => w.connections === 0), 3000, 'the earlier checks\' connections counted closed');
      const clients = Array.from({ length: 4 }, () => checkClient(ready.grpc, OWN_CONNECTION));
      try {
        const request = httpCheckRequest({ method: 'POST', host: 'api.example.com', path: '/charge', extensions: ext });
        await Promise.all(clients.map((c) => c.check(request, 5000)));
        checks += clients.length;
        expect((await workersOf()).workers.map((w) => w.connections)).toEqual([2, 2]);
      } finally {
        for (const c of clients) c.close();
      }
      await eventually(async () => (await workersOf()).workers.every((w) => w.connections === 0), 3000, 'every connection counted closed');
    });

    it('serves the HTTP authz mode on its shared port', async () => {
      const ask = (host: string) => fetch(`http://127.0.0.1:${ready.http}/authz/charge`, { method: 'POST', headers: { 'x-forwarded-host': host, 'x-joch-identity-namespace': 'support', 'x-joch-identity-agent': 'support-bot', 'x-joch-identity-environment': 'prod' } });
      const [blocked, allowed] = await Promise.all([ask('blocked.example.com'), ask('api.example.com')]);
      checks += 2;
      expect(blocked.status).toBe(403);
      expect(allowed.status).toBe(200);
    });

    it('approves on the primary and lets the request through once, whichever worker gets it', async () => {
      const first = await check('pay.example.com');
      expect(first.allowed).toBe(false);
      // The worker's ticket is in the shared store: the primary lists it.
      await eventually(async () => ((await admin('GET', '/v1/approvals')).json.open as { decisionId: string }[]).some((o) => o.decisionId === first.decisionId), 3000, 'the open denial in the list');
      expect((await admin('POST', '/v1/approvals', { decisionId: first.decisionId, reason: 'invoice 17 confirmed' })).status).toBe(200);
      const after = await Promise.all([check('pay.example.com'), check('pay.example.com'), check('pay.example.com')]);
      expect(after.filter((r) => r.allowed)).toHaveLength(1);
    });

    it('applies an emergency rule disable in every worker within a second, and its end', async () => {
      expect(await admin('POST', '/v1/overrides/rules', { policy: 'support/outbound', rule: 'no-blocked', reason: 'false positive', followUp: 'INC-7', ttl: '1m' })).toMatchObject({ status: 200 });
      await eventually(async () => (await Promise.all(Array.from({ length: 6 }, () => check('blocked.example.com')))).every((r) => r.allowed), 1500, 'the disable in every worker');
      expect((await admin('DELETE', '/v1/overrides/rules/support/outbound/no-blocked?reason=fixed')).status).toBe(200);
      await eventually(async () => (await Promise.all(Array.from({ length: 6 }, () => check('blocked.example.com')))).every((r) => !r.allowed), 1500, 'the end of the disable in every worker');
    });

    it('chains every decision of both workers into one audit log that verifies, and sums their metrics', async () => {
      // The primary finishes the workers' rows: an agent-supplied string shaped like a secret is redacted there.
      const key = 'sk-proj-' + 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp';
      await check('api.example.com', `/charge/${key}`);
      await eventually(async () => {
        const r = await admin('GET', '/v1/audit?type=decision&limit=10000');
        return (r.json.records as unknown[]).length === checks;
      }, 3000, 'every decision record');
      expect(await admin('GET', '/v1/audit/verify')).toMatchObject({ status: 200, json: { ok: true } });
      const records = (await admin('GET', '/v1/audit?type=decision&limit=10000')).json.records as { data: { request?: { path?: string } } }[];
      expect(JSON.stringify(records)).not.toContain(key);
      expect(records.some((r) => r.data.request?.path?.startsWith('/charge/[REDACTED:'))).toBe(true);
      const text = await (await fetch(`http://127.0.0.1:${ready.admin}/metrics`)).text();
      const decided = text
        .split('\n')
        .filter((l) => l.startsWith('joch_decisions_total{'))
        .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
      expect(decided).toBe(checks);
      expect(text).toMatch(/^joch_check_duration_seconds_count\{edge="authz_http"\} \d+/m);
      // The approval was decided on the primary and its pass used on a worker; the disable has ended.
      expect(text).toMatch(/^joch_grants_total\{kind="approval",verdict="approved"\} 1$/m);
      expect(text).toMatch(/^joch_grants_total\{kind="approval",verdict="used"\} 1$/m);
      expect(text).toMatch(/^joch_rule_disables_active 0$/m);
    });

    it('replaces a worker that dies, and keeps deciding meanwhile', async () => {
      const before = (await workersOf()).workers;
      const victim = before[0] as WorkerStatus;
      process.kill(victim.pid, 'SIGKILL');
      // A connection handed to the worker in the moment it died is lost (Envoy's ext_authz
      // timeout answers that call, fail closed); the next one reaches a live worker.
      await eventually(async () => (await check('api.example.com', '/charge', 1000).catch(() => undefined))?.allowed === true, 5000, 'a decision from the surviving worker');
      await eventually(async () => {
        const now = await workersOf();
        return now.status === 200 && now.workers.length === 2 && !now.workers.some((w) => w.pid === victim.pid);
      }, 10_000, 'a replacement worker');
      expect((await Promise.all(Array.from({ length: 4 }, () => check('blocked.example.com')))).every((r) => !r.allowed)).toBe(true);
    }, 15_000);

    it('reloads an edited policy file in every worker', async () => {
      writeFileSync(join(policyDir, 'outbound.yaml'), POLICY.replace('blocked.example.com', 'elsewhere.example.com'));
      await eventually(async () => (await Promise.all(Array.from({ length: 6 }, () => check('blocked.example.com')))).every((r) => r.allowed), 5000, 'the edit in every worker');
      expect((await check('elsewhere.example.com')).allowed).toBe(false);
    });

    it('drains on SIGTERM: the workers stop, the primary exits 0', async () => {
      const pids = (await workersOf()).workers.map((w) => w.pid);
      // Decided just before the signal: their records are still in flight from the workers.
      const last = await Promise.all(Array.from({ length: 20 }, () => check('api.stripe.com')));
      child.kill('SIGTERM');
      expect(await exited()).toBe(0);
      for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
      if (mode === 'memory') {
        const written = readdirSync(auditDir)
          .map((f) => readFileSync(join(auditDir, f), 'utf8'))
          .join('');
        for (const { decisionId } of last) expect(written).toContain(`"decisionId":"${decisionId}"`);
      }
    }, 20_000);
  });
}

describeServeWorkers('memory');
describeServeWorkers('redis');
