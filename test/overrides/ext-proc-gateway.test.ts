import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveConfig } from '../../src/config.js';
import { startGateway, type Gateway } from '../../src/main.js';
import { EnvoyExtAuthzHarness, sendRequest } from '../envoy/harness/index.js';
import { eventually } from '../state/redis-helpers.js';

/*
 * The seed's headline example end to end: agent → Envoy harness (envoy/sidecar.yaml: ext_authz,
 * then ext_proc with BUFFERED bodies; identity tenant acme, namespace support-platform, labels
 * env=prod) → gateway (policies/no-external-send-without-approval.yaml) → an MCP server whose
 * send_email tool is announced as reaching an open world (tool.sideEffect external_write).
 */

const TOKEN = 'test-admin-token-extproc-approvals-01';
const TENANT = 'acme';

interface Seen {
  method: string;
  id: unknown;
  args?: unknown;
}

function startMcpServer(seen: Seen[]): Promise<Server> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const msg = JSON.parse(Buffer.concat(parts).toString()) as { id: number; method: string; params?: { arguments?: unknown } };
      seen.push({ method: msg.method, id: msg.id, args: msg.params?.arguments });
      const result =
        msg.method === 'tools/list'
          ? { tools: [{ name: 'send_email', description: 'Sends an email to a customer', inputSchema: { type: 'object' }, annotations: { openWorldHint: true } }] }
          : { content: [{ type: 'text', text: 'queued for delivery' }] };
      const payload = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
      res.end(payload);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

describe('ext_proc: an MCP tools/call pending approval, approved through the admin API, passes once', () => {
  const seen: Seen[] = [];
  let gateway: Gateway;
  let upstream: Server;
  let harness: EnvoyExtAuthzHarness;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'joch-extproc-approvals-'));
    copyFileSync('policies/no-external-send-without-approval.yaml', join(dir, 'seed.yaml'));
    gateway = await startGateway(resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: [dir], reload: false, adminToken: TOKEN, environment: 'prod' }), pino({ level: 'silent' }));
    upstream = await startMcpServer(seen);
    harness = await EnvoyExtAuthzHarness.start({
      bootstrap: parse(readFileSync('envoy/sidecar.yaml', 'utf8')) as unknown,
      gateway: `127.0.0.1:${gateway.addresses.grpc}`,
      upstreams: { 'tools.example.com': { host: '127.0.0.1', port: (upstream.address() as { port: number }).port } },
    });
  }, 60_000);
  afterAll(async () => {
    await harness.close();
    await gateway.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  const mcp = (body: unknown, session = 'sess-1'): ReturnType<typeof sendRequest> =>
    sendRequest(harness.port, {
      method: 'POST',
      path: '/mcp',
      authority: 'tools.example.com',
      headers: [
        ['content-type', 'application/json'],
        ['accept', 'application/json, text/event-stream'],
        ['mcp-protocol-version', '2025-06-18'],
        ['mcp-session-id', session],
      ],
      body: JSON.stringify(body),
    });
  const sendEmail = (id: number): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'send_email', arguments: { ticket: 'T-17', template: 'refund-approved' } } });
  const approve = async (decisionId: string): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await fetch(`http://127.0.0.1:${gateway.addresses.admin}/v1/approvals?tenant=${TENANT}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ decisionId, reason: 'customer confirmed the refund mail' }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const calls = (): number => seen.filter((s) => s.method === 'tools/call').length;

  it('denied pending approval → POST /v1/approvals with its decision id → the same call passes once → denied again', async () => {
    const list = await mcp({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
    expect(JSON.parse(list.text).result.tools[0].name).toBe('send_email');

    const first = await mcp(sendEmail(2));
    expect(first.status).toBe(200);
    const denied = JSON.parse(first.text);
    expect(denied).toMatchObject({ jsonrpc: '2.0', id: 2, error: { data: { reason: 'approval-required', policyId: 'no-external-send-without-approval', ruleId: 'external-write-needs-approval', pending: { approval: 'human' } } } });
    const decisionId = denied.error.data.decisionId as string;
    // The agent gets the id twice: in the JSON-RPC error and in the header.
    expect(first.headers['x-joch-decision-id']).toBe(decisionId);
    expect(calls()).toBe(0);

    await eventually(async () => (await gateway.state.grants.ticket(TENANT, decisionId)) !== undefined, 2000, 'ticket');
    expect(await approve(decisionId)).toMatchObject({ status: 200, json: { verdict: 'approved', decisionId, ruleId: 'external-write-needs-approval' } });

    // The agent retries: a new JSON-RPC id and a new session, the same call.
    const second = await mcp(sendEmail(3), 'sess-2');
    expect(second.status).toBe(200);
    expect(JSON.parse(second.text)).toEqual({ jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: 'queued for delivery' }] } });
    expect(calls()).toBe(1);
    expect(harness.lastExchange().extProc?.outcome).not.toBe('immediate');

    const third = await mcp(sendEmail(4));
    const again = JSON.parse(third.text);
    expect(again).toMatchObject({ id: 4, error: { data: { reason: 'approval-required', pending: { approval: 'human' } } } });
    expect(again.error.data.decisionId).not.toBe(decisionId);
    expect(calls()).toBe(1);

    // The approval, and its use by the agent, are audit records.
    await gateway.state.audit.flush();
    const records = (await gateway.state.audit.read(TENANT, 1, 1000)).filter((r) => r.type === 'approval');
    expect(records.map((r) => r.data['action'])).toEqual(['approved', 'used']);
    expect(records[1]).toMatchObject({ actor: { type: 'agent', id: 'support-bot-7f9c2' }, data: { decisionId } });
    // Decisions are recorded as they were made: the retry's as an allow naming the pass.
    const decided = (await gateway.state.audit.read(TENANT, 1, 1000)).filter((r) => r.type === 'decision' && (r.data as { edge?: string }).edge === 'ext_proc');
    expect(JSON.stringify(decided)).toContain('approved-once');
  });

  it('an approved call still gets what the other rules change: the seed policy redacts the PII in its arguments', async () => {
    const withEmail = (id: number): unknown => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'send_email', arguments: { to: 'jane.doe@example.com', template: 'refund-approved' } } });
    const first = JSON.parse((await mcp(withEmail(10), 'sess-3')).text);
    expect(first).toMatchObject({ error: { data: { reason: 'approval-required' } } });
    const decisionId = first.error.data.decisionId as string;
    await eventually(async () => (await gateway.state.grants.ticket(TENANT, decisionId)) !== undefined, 2000, 'ticket');
    expect((await approve(decisionId)).status).toBe(200);
    const before = calls();
    const second = await mcp(withEmail(11), 'sess-4');
    expect(JSON.parse(second.text)).toMatchObject({ id: 11, result: {} });
    expect(calls()).toBe(before + 1);
    expect(seen.at(-1)?.args).toEqual({ to: '[REDACTED:EMAIL]', template: 'refund-approved' });
  });

  it('the NOT_FOUND hint no longer claims approvals are for ext_authz only', async () => {
    const res = await approve('00000000-0000-0000-0000-000000000000');
    expect(res.status).toBe(404);
    expect(res.json).toMatchObject({ error: { code: 'JOCH_NOT_FOUND' } });
    expect(JSON.stringify(res.json)).not.toContain('on ext_authz');
  });
});
