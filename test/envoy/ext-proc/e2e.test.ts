import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveConfig } from '../../../src/config.js';
import { envoyServices } from '../../../src/envoy/protos.js';
import { startGateway, type Gateway } from '../../../src/main.js';
import { EnvoyExtAuthzHarness, sendRequest } from '../harness/index.js';

/*
 * agent → Envoy harness (envoy/sidecar.yaml: ext_authz, then ext_proc with BUFFERED bodies
 * and allow_mode_override) → gateway → a real MCP server and a model API on loopback.
 */

interface Seen {
  path: string;
  body: string;
}

/** An MCP server speaking streamable HTTP (JSON and SSE answers), and an OpenAI-style chat endpoint. */
function startUpstream(seen: Seen[]): Promise<Server> {
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = Buffer.concat(parts).toString();
      seen.push({ path: req.url ?? '', body });
      if (req.url === '/v1/chat/completions') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'c1', model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: 'write to eve@example.com' } }], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } }));
        return;
      }
      const msg = JSON.parse(body) as { id: number; method: string; params?: { name?: string } };
      if (msg.method === 'tools/call' && msg.params?.name === 'stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'mcp-session-id': 's-42' });
        const progress = { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } };
        const result = { jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'ask carol@example.com' }] } };
        res.write(`event: message\ndata: ${JSON.stringify(progress)}\n\n`);
        const text = `event: message\ndata: ${JSON.stringify(result)}\n\n`;
        setTimeout(() => res.write(text.slice(0, 25)), 5);
        setTimeout(() => res.end(text.slice(25)), 15);
        return;
      }
      const payload = JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'Contact jane.doe@example.com' }] } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
      res.end(payload);
    });
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

describe('ext_proc end to end through the Envoy harness (envoy/sidecar.yaml)', () => {
  const seen: Seen[] = [];
  let gateway: Gateway;
  let upstream: Server;
  let harness: EnvoyExtAuthzHarness;

  beforeAll(async () => {
    gateway = await startGateway(resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: ['test/fixtures/ext-proc-policies'], reload: false }), pino({ level: 'silent' }));
    upstream = await startUpstream(seen);
    const target = { host: '127.0.0.1', port: (upstream.address() as { port: number }).port };
    harness = await EnvoyExtAuthzHarness.start({
      bootstrap: parse(readFileSync('envoy/sidecar.yaml', 'utf8')) as unknown,
      gateway: `127.0.0.1:${gateway.addresses.grpc}`,
      upstreams: { 'tools.example.com': target, 'api.openai.com': target },
    });
  }, 60_000);
  afterAll(async () => {
    await harness.close();
    await gateway.close();
    await new Promise<void>((r) => upstream.close(() => r()));
  });

  const mcp = (body: unknown): Promise<Awaited<ReturnType<typeof sendRequest>>> =>
    sendRequest(harness.port, {
      method: 'POST',
      path: '/mcp',
      authority: 'tools.example.com',
      headers: [
        ['content-type', 'application/json'],
        ['accept', 'application/json, text/event-stream'],
        ['mcp-protocol-version', '2025-06-18'],
      ],
      body: JSON.stringify(body),
    });

  it('a denied tools/call never reaches the MCP server; the agent gets a JSON-RPC error with its id', async () => {
    const before = seen.length;
    const res = await mcp({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'shell', arguments: { cmd: 'id' } } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ jsonrpc: '2.0', id: 9, error: { code: -32001, data: { reason: 'tool-forbidden' } } });
    expect(res.headers['x-joch-decision-id']).toBeDefined();
    expect(seen.length).toBe(before);
    expect(harness.lastExchange().extProc?.outcome).toBe('immediate');
    const decisions = await gateway.metrics.registry.getSingleMetric('joch_decisions_total')?.get();
    expect(decisions?.values.find((v) => v.labels.edge === 'ext_proc' && v.labels.outcome === 'deny')?.value).toBeGreaterThanOrEqual(1);
  });

  it('the agent identity reaches ext_proc through the initial metadata envoy/sidecar.yaml sets', async () => {
    const res = await mcp({ jsonrpc: '2.0', id: 'r1', method: 'tools/call', params: { name: 'issue_refund', arguments: { amount: 100 } } });
    expect(JSON.parse(res.text)).toMatchObject({ id: 'r1', error: { data: { reason: 'refunds-need-a-human', policyId: 'prod-support' } } });
  });

  it('a tool result with PII comes back redacted, valid JSON, with a matching content-length', async () => {
    const res = await mcp({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'lookup', arguments: {} } });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text).result.content[0].text).toBe('Contact [REDACTED:EMAIL]');
    expect(Number(res.headers['content-length'])).toBe(res.body.length);
  });

  it('an SSE answer is switched to STREAMED and redacted event by event, staying valid SSE', async () => {
    const res = await mcp({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'stream', arguments: {} } });
    expect(res.status).toBe(200);
    expect(harness.lastExchange().extProc?.mode?.response_body_mode).toBe('STREAMED');
    const events = res.text.split('\n\n').filter((e) => e !== '');
    expect(events).toHaveLength(2);
    const data = events.map((e) => JSON.parse(e.split('\n').find((l) => l.startsWith('data: '))!.slice(6)));
    expect(data[0].method).toBe('notifications/progress');
    expect(data[1]).toMatchObject({ id: 2, result: { content: [{ text: 'ask [REDACTED:EMAIL]' }] } });
  });

  it('a model call naming a forbidden model gets an OpenAI-shaped 403; an allowed one has its answer redacted', async () => {
    const chat = (model: string): Promise<Awaited<ReturnType<typeof sendRequest>>> =>
      sendRequest(harness.port, { method: 'POST', path: '/v1/chat/completions', authority: 'api.openai.com', headers: [['content-type', 'application/json']], body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
    const denied = await chat('gpt-forbidden');
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.text)).toEqual({ error: { message: 'denied by policy', type: 'permission_denied', param: null, code: 'model-not-permitted' } });
    const ok = await chat('gpt-4o');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).choices[0].message.content).toBe('write to [REDACTED:EMAIL]');
  });
});

describe('the Process service on the gateway survives bad streams', () => {
  it('a message of no kind gets a 500 immediate response; a cancelled stream leaves the server serving', async () => {
    const gateway = await startGateway(resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: ['test/fixtures/ext-proc-policies'], reload: false }), pino({ level: 'silent' }));
    const method = envoyServices().externalProcessor['Process']!;
    const client = new grpc.Client(`127.0.0.1:${gateway.addresses.grpc}`, grpc.credentials.createInsecure());
    const open = (): grpc.ClientDuplexStream<Record<string, unknown>, Record<string, any>> =>
      client.makeBidiStreamRequest(method.path, (a: Record<string, unknown>) => method.requestSerialize(a), (b: Buffer) => method.responseDeserialize(b) as Record<string, any>, new grpc.Metadata());
    const first = (call: ReturnType<typeof open>): Promise<Record<string, any>> => new Promise((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
    });
    try {
      const bad = open();
      const answer = first(bad);
      bad.write({});
      expect((await answer).immediate_response.status.code).toBe('InternalServerError');
      bad.cancel();
      const cancelled = open();
      cancelled.on('error', () => undefined);
      cancelled.write({ request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from('/mcp') }] } } });
      cancelled.cancel();
      const good = open();
      const next = first(good);
      good.write({ request_headers: { headers: { headers: [{ key: ':method', raw_value: Buffer.from('GET') }, { key: ':path', raw_value: Buffer.from('/') }, { key: ':authority', raw_value: Buffer.from('x.test') }] }, end_of_stream: true } });
      expect((await next).response).toBe('request_headers');
      good.end();
      const errors = await gateway.metrics.registry.getSingleMetric('joch_check_errors_total')?.get();
      expect(errors?.values.find((v) => v.labels.edge === 'ext_proc')).toMatchObject({ labels: { reason: 'joch_ext_proc_malformed' }, value: 1 });
    } finally {
      client.close();
      await gateway.close();
    }
  });
});
