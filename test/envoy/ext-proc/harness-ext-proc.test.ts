import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SHIPPED_MODE } from '../../../src/envoy/ext-proc/messages.js';
import { envoyServices } from '../../../src/envoy/protos.js';
import { EnvoyExtAuthzHarness, harnessSettingsFromBootstrap, sendRequest, sidecarBootstrap } from '../harness/index.js';
import type { ClientRequest, SidecarBootstrapOptions } from '../harness/index.js';

/*
 * The harness's ext_proc filter against a scripted ext_proc server, mirroring Envoy's
 * test/extensions/filters/http/ext_proc/ext_proc_integration_test.cc: get and set headers,
 * close the stream with OK, fail the stream, immediate responses (and status < 200 → 200),
 * replace the request body, message timeout → 504, content-length mismatch → 500, mode
 * override allowed and not, spurious messages, STREAMED chunks.
 */

type Obj = Record<string, any>;
type Step = { reply?: Obj; close?: 'ok' | grpc.status; delayMs?: number };

class ScriptedExtProc {
  script: (msg: Obj, n: number) => Step = (m) => ({ reply: continueFor(m) });
  readonly seen: Obj[] = [];
  readonly metadata: grpc.Metadata[] = [];
  private readonly server = new grpc.Server();
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  async start(): Promise<void> {
    this.server.addService(envoyServices().authorization, { Check: (_c: unknown, cb: grpc.sendUnaryData<Obj>) => cb(null, { status: { code: 0 } }) });
    this.server.addService(envoyServices().externalProcessor, {
      Process: (call: grpc.ServerDuplexStream<Obj, Obj>) => {
        this.metadata.push(call.metadata);
        let n = 0;
        let closed = false;
        call.on('data', (m: Obj) => {
          this.seen.push(m);
          const step = this.script(m, n++);
          const act = (): void => {
            if (closed) return;
            if (step.reply !== undefined) call.write(step.reply);
            if (step.close === 'ok') {
              closed = true;
              call.end();
            } else if (step.close !== undefined) {
              closed = true;
              call.emit('error', { code: step.close, details: 'scripted failure' });
            }
          };
          if (step.delayMs === undefined) act();
          else {
            const t = setTimeout(() => {
              this.timers.delete(t);
              act();
            }, step.delayMs);
            this.timers.add(t);
          }
        });
        call.on('end', () => {
          if (!closed) call.end();
        });
        call.on('error', () => undefined);
        call.on('cancelled', () => (closed = true));
      },
    });
    this.port = await new Promise<number>((res, rej) => this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  }

  reset(): void {
    this.seen.length = 0;
    this.metadata.length = 0;
    this.script = (m) => ({ reply: continueFor(m) });
  }

  stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    return new Promise((r) => this.server.tryShutdown(() => r()));
  }
}

function continueFor(m: Obj): Obj {
  const kind = String(m['request']);
  return { [kind]: kind.endsWith('_trailers') ? {} : { response: {} } };
}

const set = (key: string, value: string, append?: boolean): Obj => ({ header: { key, raw_value: Buffer.from(value) }, ...(append !== undefined ? { append: { value: append } } : {}) });

const server = new ScriptedExtProc();
let upstreamPort = 0;
const received: { headers: IncomingHttpHeaders; body: string }[] = [];
let upstreamReply: { status: number; headers: Record<string, string>; chunks: string[] } = { status: 200, headers: { 'content-type': 'text/plain' }, chunks: ['hello'] };
const upstream = createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (c: Buffer) => parts.push(c));
  req.on('end', () => {
    received.push({ headers: req.headers, body: Buffer.concat(parts).toString() });
    res.writeHead(upstreamReply.status, upstreamReply.headers);
    const chunks = [...upstreamReply.chunks];
    const next = (): void => {
      const c = chunks.shift();
      if (c === undefined) res.end();
      else res.write(c, () => setTimeout(next, 5));
    };
    next();
  });
});

beforeAll(async () => {
  await server.start();
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as { port: number }).port;
});
afterAll(async () => {
  await server.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
});
beforeEach(() => {
  server.reset();
  received.length = 0;
  upstreamReply = { status: 200, headers: { 'content-type': 'text/plain' }, chunks: ['hello'] };
});

async function run(o: SidecarBootstrapOptions, r: ClientRequest): Promise<{ res: Awaited<ReturnType<typeof sendRequest>>; h: EnvoyExtAuthzHarness }> {
  const h = await EnvoyExtAuthzHarness.start({
    bootstrap: sidecarBootstrap({ ...o, extProc: { ...o.extProc } }),
    gateway: `127.0.0.1:${server.port}`,
    upstreams: { 'svc.test': { host: '127.0.0.1', port: upstreamPort } },
  });
  try {
    const res = await sendRequest(h.port, { authority: 'svc.test', ...r });
    await h.lastExchange().finished;
    return { res, h };
  } finally {
    await h.close();
  }
}

describe('harness ext_proc: settings from the bootstrap', () => {
  it('the gateway assumes the processing mode and override flag the shipped configs set', () => {
    for (const file of ['envoy/sidecar.yaml', 'envoy/egress-gateway.yaml']) {
      const s = harnessSettingsFromBootstrap(parseYaml(readFileSync(file, 'utf8')) as unknown);
      expect(s.extProc?.mode).toEqual(SHIPPED_MODE);
      expect(s.extProc?.allowModeOverride).toBe(true);
    }
  });

  it('reads the processing mode, timeouts and override flag, with Envoy defaults', () => {
    const s = harnessSettingsFromBootstrap(sidecarBootstrap({ extProc: { processing_mode: { request_body_mode: 'STREAMED' }, message_timeout: '0.5s', allow_mode_override: true } }));
    expect(s.extProc).toMatchObject({ messageTimeoutMs: 500, allowModeOverride: true, failureModeAllow: false });
    expect(s.extProc?.mode).toEqual({ request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'STREAMED', response_body_mode: 'NONE', request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP' });
    expect(harnessSettingsFromBootstrap(sidecarBootstrap({ extProc: {} })).extProc?.messageTimeoutMs).toBe(200);
    expect(s.notEmulated).toEqual([]);
    expect(harnessSettingsFromBootstrap(sidecarBootstrap({ extProc: { observability_mode: true, request_attributes: ['request.path'] } })).notEmulated).toEqual(['ext_proc.request_attributes', 'ext_proc.observability_mode']);
  });
});

describe('harness ext_proc: Envoy integration scenarios', () => {
  it('default mode: request and response headers only, raw_value keys, get and set headers', async () => {
    server.script = (m) => (m['request'] === 'request_headers' ? { reply: { request_headers: { response: { header_mutation: { set_headers: [set('x-added', 'yes'), set('x-new', 'a', true)], remove_headers: ['x-remove-me'] } } } } } : { reply: continueFor(m) });
    const { res, h } = await run({}, { path: '/p', headers: [['x-remove-me', '1']] });
    expect(res.status).toBe(200);
    expect(server.seen.map((m) => m['request'])).toEqual(['request_headers', 'response_headers']);
    const hdrs = server.seen[0]!['request_headers'].headers.headers as Obj[];
    expect(hdrs.find((x) => x['key'] === ':authority')?.['raw_value'].toString()).toBe('svc.test');
    expect(hdrs.every((x) => (x['value'] ?? '') === '')).toBe(true);
    expect(server.seen[0]!['request_headers'].end_of_stream).toBe(true);
    expect(received[0]!.headers['x-added']).toBe('yes');
    expect(received[0]!.headers['x-new']).toBe('a');
    expect(received[0]!.headers['x-remove-me']).toBeUndefined();
    expect(h.lastExchange().extProc?.outcome).toBe('completed');
  });

  it('a mutation with only `value` does nothing; forbidden headers are ignored', async () => {
    server.script = (m) =>
      m['request'] === 'request_headers'
        ? { reply: { request_headers: { response: { header_mutation: { set_headers: [{ header: { key: 'x-value-only', value: 'v' } }, set('host', 'evil.test'), set('x-envoy-foo', '1')], remove_headers: [':path', 'host'] } } } } }
        : { reply: continueFor(m) };
    const { res, h } = await run({}, { path: '/p' });
    expect(res.status).toBe(200);
    expect(received[0]!.headers['x-value-only']).toBeUndefined();
    expect(received[0]!.headers.host).toBe('svc.test');
    expect(received[0]!.headers['x-envoy-foo']).toBeUndefined();
    expect(h.lastExchange().extProc?.rejectedMutations).toBe(4);
  });

  it('closing the stream with OK lets the request continue unprocessed', async () => {
    server.script = () => ({ close: 'ok' });
    const { res, h } = await run({ extProc: { processing_mode: { request_body_mode: 'BUFFERED' } } }, { method: 'POST', path: '/p', body: 'abc' });
    expect(res.status).toBe(200);
    expect(received[0]!.body).toBe('abc');
    expect(h.lastExchange().extProc?.outcome).toBe('closed_ok');
  });

  it('a failed stream is a 500, or passes with failure_mode_allow', async () => {
    server.script = () => ({ close: grpc.status.INTERNAL });
    expect((await run({}, { path: '/p' })).res.status).toBe(500);
    expect(received).toHaveLength(0);
    const { res } = await run({ extProc: { failure_mode_allow: true } }, { path: '/p' });
    expect(res.status).toBe(200);
  });

  it('an immediate response replies at once; a status below 200 becomes 200', async () => {
    server.script = () => ({ reply: { immediate_response: { status: { code: 401 }, body: Buffer.from('{"no":1}'), headers: { set_headers: [set('content-type', 'application/json'), set('x-why', 'policy')] }, details: 'denied' } } });
    const a = await run({}, { path: '/p' });
    expect(a.res.status).toBe(401);
    expect(a.res.text).toBe('{"no":1}');
    expect(a.res.headers['x-why']).toBe('policy');
    expect(a.h.lastExchange().response?.details).toBe('denied');
    expect(received).toHaveLength(0);
    server.script = () => ({ reply: { immediate_response: { status: { code: 100 } } } });
    expect((await run({}, { path: '/p' })).res.status).toBe(200);
  });

  it('replaces the complete request body (BUFFERED) with content-length fixed by the server', async () => {
    server.script = (m) =>
      m['request'] === 'request_body'
        ? { reply: { request_body: { response: { body_mutation: { body: Buffer.from('replaced body') }, header_mutation: { set_headers: [set('content-length', '13')] } } } } }
        : { reply: continueFor(m) };
    const { res } = await run({ extProc: { processing_mode: { request_body_mode: 'BUFFERED' } } }, { method: 'POST', path: '/p', body: 'original' });
    expect(res.status).toBe(200);
    expect(received[0]!.body).toBe('replaced body');
    expect(server.seen[1]!['request_body']).toMatchObject({ end_of_stream: true });
  });

  it('a body mutation that leaves content-length stale is a 500', async () => {
    server.script = (m) => (m['request'] === 'request_body' ? { reply: { request_body: { response: { body_mutation: { body: Buffer.from('longer than before') } } } } } : { reply: continueFor(m) });
    const { res, h } = await run({ extProc: { processing_mode: { request_body_mode: 'BUFFERED' } } }, { method: 'POST', path: '/p', body: 'short' });
    expect(res.status).toBe(500);
    expect(h.lastExchange().response?.details).toBe('ext_proc_content_length_mismatch');
  });

  it('message timeout → 504, or continue with failure_mode_allow', async () => {
    server.script = (m) => ({ reply: continueFor(m), delayMs: 300 });
    expect((await run({ extProc: { message_timeout: '0.1s' } }, { path: '/p' })).res.status).toBe(504);
    expect((await run({ extProc: { message_timeout: '0.1s', failure_mode_allow: true } }, { path: '/p' })).res.status).toBe(200);
  });

  it('a response of the wrong kind is spurious: 500', async () => {
    server.script = () => ({ reply: { response_headers: { response: {} } } });
    const { res, h } = await run({}, { path: '/p' });
    expect(res.status).toBe(500);
    expect(h.lastExchange().extProc?.outcome).toBe('spurious');
  });

  it('mode override is honoured only with allow_mode_override', async () => {
    const override = (m: Obj): Step =>
      m['request'] === 'response_headers' ? { reply: { response_headers: { response: {} }, mode_override: { response_body_mode: 'BUFFERED' } } } : { reply: continueFor(m) };
    server.script = override;
    await run({ extProc: { allow_mode_override: true } }, { path: '/p' });
    expect(server.seen.map((m) => m['request'])).toEqual(['request_headers', 'response_headers', 'response_body']);
    server.reset();
    server.script = override;
    await run({ extProc: { allow_mode_override: false } }, { path: '/p' });
    expect(server.seen.map((m) => m['request'])).toEqual(['request_headers', 'response_headers']);
  });

  it('STREAMED sends one message per chunk, each with its own end_of_stream; body responses change chunks', async () => {
    upstreamReply = { status: 200, headers: { 'content-type': 'text/plain' }, chunks: ['one,', 'two,', 'three'] };
    server.script = (m) => (m['request'] === 'response_body' ? { reply: { response_body: { response: { body_mutation: { body: Buffer.from(m['response_body'].body.toString().toUpperCase()) } } } } } : { reply: continueFor(m) });
    const { res } = await run({ extProc: { processing_mode: { response_body_mode: 'STREAMED' } } }, { path: '/p' });
    const bodies = server.seen.filter((m) => m['request'] === 'response_body').map((m) => [m['response_body'].body.toString(), m['response_body'].end_of_stream ?? false]);
    expect(bodies.length).toBeGreaterThanOrEqual(2);
    expect(bodies[bodies.length - 1]![1]).toBe(true);
    expect(res.text).toBe('ONE,TWO,THREE');
  });

  it('a BUFFERED request over the buffer limit is a 413 from Envoy, the server never sees it', async () => {
    const { res } = await run({ extProc: { processing_mode: { request_body_mode: 'BUFFERED' } }, bufferLimit: 16 }, { method: 'POST', path: '/p', body: 'x'.repeat(64) });
    expect(res.status).toBe(413);
    expect(server.seen.map((m) => m['request'])).toEqual(['request_headers']);
  });

  it('CONTINUE_AND_REPLACE in a headers response replaces the body and stops that direction', async () => {
    server.script = (m) =>
      m['request'] === 'request_headers'
        ? { reply: { request_headers: { response: { status: 'CONTINUE_AND_REPLACE', body_mutation: { body: Buffer.from('new') }, header_mutation: { set_headers: [set('content-length', '3')] } } } } }
        : { reply: continueFor(m) };
    await run({ extProc: { processing_mode: { request_body_mode: 'BUFFERED' } } }, { method: 'POST', path: '/p', body: 'old body' });
    expect(received[0]!.body).toBe('new');
    expect(server.seen.map((m) => m['request'])).not.toContain('request_body');
  });

  it('per-route ExtProcPerRoute disabled skips the filter; initial_metadata reaches the server', async () => {
    await run({ extProcPerRoute: { disabled: true } }, { path: '/p' });
    expect(server.seen).toHaveLength(0);
    await run({ extProc: { grpc_service: { envoy_grpc: { cluster_name: 'joch_gateway' }, initial_metadata: [{ key: 'x-joch-identity-tenant', value: 'acme' }] } } }, { path: '/p' });
    expect(server.metadata[0]?.get('x-joch-identity-tenant')).toEqual(['acme']);
  });
});
