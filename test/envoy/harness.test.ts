import { existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { envoyServices } from '../../src/envoy/protos.js';
import { checkHeaders, EnvoyExtAuthzHarness, harnessSettingsFromBootstrap, HarnessConfigError, sanitizeUtf8, sendRequest, sidecarBootstrap } from './harness/index.js';
import type { ExtAuthzExchange, HarnessOptions, SidecarBootstrapOptions } from './harness/index.js';

/*
 * Tests of the Envoy ext_authz harness itself, mirroring Envoy's
 * test/extensions/filters/http/ext_authz/ext_authz_integration_test.cc: a scripted Check
 * server (canned CheckResponses) and a real loopback upstream.
 */

type Obj = Record<string, unknown>;

interface Reply {
  readonly response?: Obj;
  readonly error?: { readonly code: grpc.status; readonly details?: string };
  readonly delayMs?: number;
}

interface ReceivedCheck {
  readonly request: Obj;
  readonly metadata: grpc.Metadata;
  /** Milliseconds between arrival and the call's deadline (Infinity when none). */
  readonly deadlineInMs: number;
}

/** Test scaffolding: an Authorization service that answers what each test scripts. */
class ScriptedCheckServer {
  readonly received: ReceivedCheck[] = [];
  script: (req: Obj) => Reply = () => ({ response: { status: { code: 0 } } });
  private readonly server = new grpc.Server();
  private readonly timers = new Set<NodeJS.Timeout>();
  port = 0;

  async start(): Promise<void> {
    this.server.addService(envoyServices().authorization, {
      Check: (call: grpc.ServerUnaryCall<Obj, Obj>, callback: grpc.sendUnaryData<Obj>) => {
        const deadline = call.getDeadline();
        const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
        this.received.push({ request: call.request, metadata: call.metadata, deadlineInMs: Number.isFinite(deadlineMs) ? deadlineMs - Date.now() : Infinity });
        const reply = this.script(call.request);
        const answer = (): void => {
          if (reply.error !== undefined) callback({ code: reply.error.code, details: reply.error.details ?? 'scripted error' });
          else callback(null, reply.response ?? {});
        };
        if (reply.delayMs === undefined) return answer();
        const t = setTimeout(() => {
          this.timers.delete(t);
          answer();
        }, reply.delayMs);
        this.timers.add(t);
        call.on('cancelled', () => {
          clearTimeout(t);
          this.timers.delete(t);
        });
      },
    });
    // envoy/sidecar.yaml also runs ext_proc on this cluster: answer every message with CONTINUE.
    this.server.addService(envoyServices().externalProcessor, {
      Process: (call: grpc.ServerDuplexStream<Obj, Obj>) => {
        call.on('data', (m: Obj) => {
          const kind = String(m['request']);
          call.write({ [kind]: kind.endsWith('_trailers') ? {} : { response: {} } });
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
  }

  reset(): void {
    this.received.length = 0;
    this.script = () => ({ response: { status: { code: 0 } } });
  }

  last(): ReceivedCheck {
    const r = this.received[this.received.length - 1];
    if (r === undefined) throw new Error('no Check received');
    return r;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.forceShutdown();
  }
}

interface UpstreamSeen {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: [string, string][];
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** A real loopback upstream that records what it receives. */
class RecordingUpstream {
  readonly seen: UpstreamSeen[] = [];
  private readonly server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw: [string, string][] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) raw.push([req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string]);
      this.seen.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: raw, headers: req.headers, body: Buffer.concat(parts).toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'yes', server: 'upstream-server' });
      res.end('upstream-ok');
    });
  });
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  last(): UpstreamSeen {
    const s = this.seen[this.seen.length - 1];
    if (s === undefined) throw new Error('upstream saw no request');
    return s;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

const gateway = new ScriptedCheckServer();
const upstream = new RecordingUpstream();
const AUTHORITY = 'api.example.com';

beforeAll(async () => {
  await gateway.start();
  await upstream.start();
});
afterAll(async () => {
  await gateway.stop();
  await upstream.stop();
});
beforeEach(() => {
  gateway.reset();
  upstream.seen.length = 0;
});

async function withHarness(o: SidecarBootstrapOptions, fn: (h: EnvoyExtAuthzHarness) => Promise<void>, extra: Partial<HarnessOptions> = {}): Promise<void> {
  const h = await EnvoyExtAuthzHarness.start({
    bootstrap: sidecarBootstrap(o),
    gateway: `127.0.0.1:${gateway.port}`,
    upstreams: { [AUTHORITY]: { host: '127.0.0.1', port: upstream.port } },
    ...extra,
  });
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

function ok(okResponse: Obj = {}, extra: Obj = {}): Reply {
  return { response: { status: { code: 0 }, ok_response: okResponse, ...extra } };
}

function header(key: string, value: string, append?: boolean): Obj {
  return append === undefined ? { header: { key, value } } : { header: { key, value }, append: { value: append } };
}

function sock(port: number): Obj {
  return { address: { address: 'socket_address', socket_address: { address: '127.0.0.1', port_specifier: 'port_value', port_value: port } } };
}

function attrs(ex: ExtAuthzExchange): Obj {
  return ex.checkRequest?.['attributes'] as Obj;
}

function httpAttrs(ex: ExtAuthzExchange): Obj {
  return (attrs(ex)['request'] as Obj)['http'] as Obj;
}

describe('CheckRequest built like check_request_utils.cc', () => {
  it('carries pseudo-headers, joined repeats, the stream id, addresses and context_extensions', async () => {
    await withHarness(
      {
        vhostPerRoute: { check_settings: { context_extensions: { tenant: 'acme', agent: 'from-vhost' } } },
        routePerRoute: { check_settings: { context_extensions: { agent: 'agent-7' } } },
      },
      async (h) => {
        const res = await sendRequest(h.port, {
          method: 'POST',
          path: '/v1/chat?model=x&stream=1',
          authority: AUTHORITY,
          headers: [
            ['X-Repeat', 'one'],
            ['x-repeat', 'two'],
            ['Authorization', 'Bearer t0k'],
            ['x-request-id', 'client-rid-1'],
            ['x-envoy-auth-partial-body', 'spoofed'],
            ['x-envoy-retry-on', '5xx'],
          ],
          body: '{"a":1}',
        });
        expect(res.status).toBe(200);
        expect(res.text).toBe('upstream-ok');

        const ex = h.lastExchange();
        const hr = httpAttrs(ex);
        expect(hr['id']).toMatch(/^\d+$/);
        expect(hr['id']).toBe(ex.streamId);
        expect(hr['id']).not.toBe('client-rid-1');
        expect(hr['method']).toBe('POST');
        expect(hr['path']).toBe('/v1/chat?model=x&stream=1');
        expect(hr['host']).toBe(AUTHORITY);
        expect(hr['scheme']).toBe('http');
        expect(hr['protocol']).toBe('HTTP/1.1');
        // bytesReceived when the check starts at decodeHeaders: 0, so not on the wire.
        expect(hr['size']).toBeUndefined();
        expect(hr['query']).toBeUndefined();
        expect(hr['fragment']).toBeUndefined();
        expect(hr['body']).toBeUndefined();
        expect(hr['headers']).toEqual({
          ':authority': AUTHORITY,
          ':path': '/v1/chat?model=x&stream=1',
          ':method': 'POST',
          ':scheme': 'http',
          'x-repeat': 'one,two',
          authorization: 'Bearer t0k',
          'x-request-id': 'client-rid-1',
          'content-length': '7',
          'x-forwarded-proto': 'http',
        });
        const a = attrs(ex);
        // As decoded with oneofs: true (the virtual oneof fields name the case).
        expect(a['source']).toEqual(sock(res.localPort));
        expect(a['destination']).toEqual(sock(upstream.port));
        expect(a['context_extensions']).toEqual({ tenant: 'acme', agent: 'agent-7' });
        expect(a['metadata_context']).toEqual({});
        const t = (a['request'] as Obj)['time'] as Obj;
        expect(Math.abs(Number(t['seconds']) * 1000 + Number(t['nanos'] ?? 0) / 1e6 - Date.now())).toBeLessThan(5000);

        // The gateway decodes the same message off the wire.
        expect(gateway.last().request).toEqual(ex.checkRequest);
        // Default timeout 200 ms travels as the call deadline (grpc-timeout).
        expect(gateway.last().deadlineInMs).toBeGreaterThan(0);
        expect(gateway.last().deadlineInMs).toBeLessThanOrEqual(200);
      },
    );
  });

  it('generates x-request-id when absent, and it is not the stream id', async () => {
    await withHarness({}, async (h) => {
      await sendRequest(h.port, { authority: AUTHORITY, path: '/' });
      const ex = h.lastExchange();
      const rid = checkHeaders(ex)['x-request-id'];
      expect(rid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(httpAttrs(ex)['id']).not.toBe(rid);
      expect(upstream.last().headers['x-request-id']).toBe(rid);
    });
  });

  it('replaces invalid UTF-8 bytes in header values with "!"', async () => {
    expect(sanitizeUtf8(Buffer.from([0x61, 0xff, 0x62, 0xc3, 0xa9, 0xe2, 0x82]))).toBe('a!bé!!');
    await withHarness({}, async (h) => {
      // node:http writes header strings as latin1, so these are the bytes ff and c3 a9.
      await sendRequest(h.port, { authority: AUTHORITY, headers: [['x-bytes', 'a\u00ffb'], ['x-utf8', Buffer.from('é').toString('latin1')]] });
      const hs = checkHeaders(h.lastExchange());
      expect(hs['x-bytes']).toBe('a!b');
      expect(hs['x-utf8']).toBe('é');
    });
  });
});

describe('CheckRequest header options', () => {
  it('encode_raw_headers sends header_map entries with raw_value, repeats not joined', async () => {
    await withHarness({ extAuthz: { encode_raw_headers: true } }, async (h) => {
      await sendRequest(h.port, { authority: AUTHORITY, path: '/raw', headers: [['x-dup', 'a'], ['x-dup', 'b']] });
      const hr = httpAttrs(h.lastExchange());
      expect(hr['headers']).toBeUndefined();
      const entries = ((hr['header_map'] as Obj)['headers'] as Obj[]).map((e) => [e['key'], Buffer.from(e['raw_value'] as Uint8Array).toString()]);
      expect(entries.filter(([k]) => k === 'x-dup')).toEqual([
        ['x-dup', 'a'],
        ['x-dup', 'b'],
      ]);
      expect(entries.slice(0, 4)).toEqual([
        [':authority', AUTHORITY],
        [':path', '/raw'],
        [':method', 'GET'],
        [':scheme', 'http'],
      ]);
    });
  });

  it('allowed_headers limits the headers (no implicit additions for gRPC); disallowed_headers wins', async () => {
    await withHarness(
      { extAuthz: { allowed_headers: { patterns: [{ exact: ':path' }, { prefix: 'x-agent-' }] }, disallowed_headers: { patterns: [{ exact: 'x-agent-secret' }] }, include_tls_session: true } },
      async (h) => {
        await sendRequest(h.port, { authority: AUTHORITY, path: '/p', headers: [['x-agent-id', 'a1'], ['x-agent-secret', 's'], ['x-other', 'o']] });
        const ex = h.lastExchange();
        expect(checkHeaders(ex)).toEqual({ ':path': '/p', 'x-agent-id': 'a1' });
        expect(httpAttrs(ex)['host']).toBe(AUTHORITY);
        expect(attrs(ex)['tls_session']).toEqual({});
      },
    );
  });
});

describe('OK responses applied like ext_authz.cc onComplete', () => {
  it('sets (append unset/false), appends only to existing headers, drops appends to missing ones', async () => {
    gateway.script = () =>
      ok({
        headers: [
          header('x-injected-key', 'sk-secret'),
          header('x-overwrite', 'new', false),
          header('x-existing', 'added', true),
          header('x-missing', 'dropped', true),
          { header: { key: 'x-action-ignored', value: 'v' }, append_action: 'ADD_IF_ABSENT' },
        ],
        response_headers_to_add: [header('x-policy', 'allowed'), header('x-set-resp', 'set', false)],
      });
    await withHarness({}, async (h) => {
      const res = await sendRequest(h.port, {
        authority: AUTHORITY,
        path: '/v1/models',
        headers: [
          ['x-overwrite', 'old-1'],
          ['x-overwrite', 'old-2'],
          ['x-existing', 'orig'],
        ],
      });
      expect(res.status).toBe(200);
      const seen = upstream.last();
      expect(seen.headers['x-injected-key']).toBe('sk-secret');
      expect(seen.rawHeaders.filter(([k]) => k === 'x-overwrite')).toEqual([['x-overwrite', 'new']]);
      expect(seen.headers['x-existing']).toBe('orig,added');
      expect(seen.headers['x-missing']).toBeUndefined();
      // append_action is not read for request headers: append unset → set.
      expect(seen.headers['x-action-ignored']).toBe('v');
      expect(seen.headers.host).toBe(AUTHORITY);
      expect(seen.url).toBe('/v1/models');
      expect(seen.headers['x-envoy-expected-rq-timeout-ms']).toBe('15000');
      // Response: response_headers_to_add reach the client; the HCM overwrites server.
      expect(res.headers['x-policy']).toBe('allowed');
      expect(res.headers['x-set-resp']).toBe('set');
      expect(res.headers['x-upstream']).toBe('yes');
      expect(res.headers.server).toBe('envoy');
      expect(res.headers['x-envoy-upstream-service-time']).toMatch(/^\d+$/);
      const ex = h.lastExchange();
      expect(ex.checkStatus).toBe('OK');
      expect(ex.upstreamReached).toBe(true);
      expect(ex.response).toMatchObject({ status: 200, local: false, details: 'via_upstream' });
      expect(ex.upstream).toMatchObject({ address: '127.0.0.1', port: upstream.port, method: 'GET', path: '/v1/models' });
    });
  });

  it('headers_to_remove removes ordinary headers but never pseudo-headers or host', async () => {
    gateway.script = () => ok({ headers_to_remove: ['authorization', 'x-remove-me', ':authority', ':path', ':method', 'host', 'Host'] });
    await withHarness({}, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY, path: '/keep/path', headers: [['Authorization', 'Bearer agent-token'], ['x-remove-me', '1'], ['x-keep', '2']] });
      expect(res.status).toBe(200);
      const seen = upstream.last();
      expect(seen.headers.authorization).toBeUndefined();
      expect(seen.headers['x-remove-me']).toBeUndefined();
      expect(seen.headers['x-keep']).toBe('2');
      expect(seen.headers.host).toBe(AUTHORITY);
      expect(seen.method).toBe('GET');
      expect(seen.url).toBe('/keep/path');
    });
  });

  it('setting host without mutation rules rewrites :authority (the static header table maps host to :authority)', async () => {
    gateway.script = () => ok({ headers: [header('host', 'rewritten.example')] });
    await withHarness({}, async (h) => {
      await sendRequest(h.port, { authority: AUTHORITY });
      // The original destination does not change: the connection already chose it.
      expect(upstream.last().headers.host).toBe('rewritten.example');
      expect(h.lastExchange().upstream?.port).toBe(upstream.port);
    });
  });

  it('an empty CheckResponse allows the request unchanged', async () => {
    gateway.script = () => ({ response: {} });
    await withHarness({}, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY, headers: [['x-a', '1']] });
      expect(res.status).toBe(200);
      expect(res.text).toBe('upstream-ok');
      expect(upstream.last().headers['x-a']).toBe('1');
      expect(h.lastExchange().checkStatus).toBe('OK');
    });
  });

  it('records dynamic_metadata (namespace envoy.filters.http.ext_authz) with ext_authz_duration on OK', async () => {
    gateway.script = () =>
      ok(
        {},
        {
          dynamic_metadata: {
            fields: {
              // proto-loader's Struct uses protobufjs's camelCase Value fields (see structToJson).
              decision: { stringValue: 'allow' },
              rule: { structValue: { fields: { id: { numberValue: 7 }, strict: { boolValue: true } } } },
              lost: { string_value: 'snake_case is not a Value field: dropped on the wire' },
            },
          },
        },
      );
    await withHarness({}, async (h) => {
      await sendRequest(h.port, { authority: AUTHORITY });
      const md = h.lastDynamicMetadata;
      expect(md).toMatchObject({ decision: 'allow', rule: { id: 7, strict: true }, lost: null });
      expect(typeof md?.['ext_authz_duration']).toBe('number');
      expect(h.lastExchange().dynamicMetadata).toBe(md);
    });
  });

  it('query_parameters_to_set/remove rewrite :path (keys sorted as in QueryParamsMulti)', async () => {
    gateway.script = () => ok({ query_parameters_to_set: [{ key: 'b', value: '2' }, { key: 'a', value: 'x' }], query_parameters_to_remove: ['secret'] });
    await withHarness({}, async (h) => {
      await sendRequest(h.port, { authority: AUTHORITY, path: '/q?secret=s&z=9&a=1' });
      expect(upstream.last().url).toBe('/q?a=x&b=2&z=9');
    });
  });
});

describe('denied responses', () => {
  it('uses denied_response status, body and only append=false headers; the upstream is not reached', async () => {
    gateway.script = () => ({
      response: {
        status: { code: grpc.status.PERMISSION_DENIED },
        denied_response: {
          status: { code: 'Unauthorized' },
          body: '{"error":"blocked by policy"}',
          headers: [header('content-type', 'application/json'), header('x-deny-reason', 'policy'), header('x-appended', 'no', true), header('set-cookie', 'a=1'), header('set-cookie', 'b=2', false)],
        },
      },
    });
    await withHarness({}, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY, path: '/v1/tools' });
      expect(res.status).toBe(401);
      expect(res.text).toBe('{"error":"blocked by policy"}');
      expect(res.headers['content-type']).toBe('application/json');
      expect(res.headers['content-length']).toBe(String(Buffer.byteLength('{"error":"blocked by policy"}')));
      expect(res.headers['x-deny-reason']).toBe('policy');
      expect(res.headers['x-appended']).toBeUndefined();
      expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(res.headers.server).toBe('envoy');
      expect(upstream.seen).toHaveLength(0);
      const ex = h.lastExchange();
      expect(ex.checkStatus).toBe('Denied');
      expect(ex.upstreamReached).toBe(false);
      expect(ex.response).toMatchObject({ status: 401, local: true, details: 'ext_authz_denied' });
    });
  });

  it('a non-OK status without denied_response gives 403 with an empty body', async () => {
    gateway.script = () => ({ response: { status: { code: grpc.status.UNAUTHENTICATED } } });
    await withHarness({}, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(403);
      expect(res.text).toBe('');
      expect(res.headers['content-length']).toBe('0');
      expect(res.headers['content-type']).toBeUndefined();
      expect(upstream.seen).toHaveLength(0);
    });
  });

  it('a denied body without content-type header is text/plain', async () => {
    gateway.script = () => ({ response: { status: { code: 7 }, denied_response: { body: 'nope' } } });
    await withHarness({}, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(403);
      expect(res.text).toBe('nope');
      expect(res.headers['content-type']).toBe('text/plain');
    });
  });
});

describe('errors, timeouts and failure_mode_allow', () => {
  it('a Check slower than the timeout fails closed with 403', async () => {
    gateway.script = () => ({ ...ok({ headers: [header('x-late', '1')] }), delayMs: 400 });
    await withHarness({ extAuthz: { grpc_service: { envoy_grpc: { cluster_name: 'joch_gateway' }, timeout: '0.1s' } } }, async (h) => {
      const t0 = Date.now();
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(403);
      expect(res.text).toBe('');
      expect(Date.now() - t0).toBeLessThan(380);
      expect(upstream.seen).toHaveLength(0);
      const ex = h.lastExchange();
      expect(ex.checkError).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED, codeName: 'DEADLINE_EXCEEDED' });
      expect(ex.checkStatus).toBe('Error');
      expect(ex.response).toMatchObject({ status: 403, details: 'ext_authz_error' });
      expect(gateway.last().deadlineInMs).toBeLessThanOrEqual(100);
    });
  });

  it('a gateway that is down gives 403', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    await withHarness(
      {},
      async (h) => {
        const res = await sendRequest(h.port, { authority: AUTHORITY });
        expect(res.status).toBe(403);
        expect(h.lastExchange().checkError?.code).toBe(grpc.status.UNAVAILABLE);
        expect(upstream.seen).toHaveLength(0);
      },
      { gateway: `127.0.0.1:${deadPort}` },
    );
  });

  it('a gRPC error from the gateway is an error (status_on_error), not a denial', async () => {
    gateway.script = () => ({ error: { code: grpc.status.INTERNAL, details: 'boom' } });
    await withHarness({ extAuthz: { status_on_error: { code: 'ServiceUnavailable' } } }, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(503);
      expect(res.text).toBe('');
      expect(h.lastExchange().checkError).toMatchObject({ code: grpc.status.INTERNAL, details: 'boom' });
    });
  });

  it('status_on_error outside 100..511 falls back to 403 (FilterConfig::toErrorCode)', () => {
    const s = harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { status_on_error: { code: 'Empty' } } }));
    expect(s.extAuthz.statusOnError).toBe(403);
    expect(harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { status_on_error: { code: 429 } } })).extAuthz.statusOnError).toBe(429);
  });

  it('failure_mode_allow lets the request through and adds x-envoy-auth-failure-mode-allowed when configured', async () => {
    gateway.script = () => ({ error: { code: grpc.status.UNAVAILABLE } });
    await withHarness({ extAuthz: { failure_mode_allow: true, failure_mode_allow_header_add: true } }, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(200);
      expect(res.text).toBe('upstream-ok');
      expect(upstream.last().headers['x-envoy-auth-failure-mode-allowed']).toBe('true');
      expect(h.lastExchange().upstreamReached).toBe(true);
    });
    await withHarness({ extAuthz: { failure_mode_allow: true } }, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(200);
      expect(upstream.last().headers['x-envoy-auth-failure-mode-allowed']).toBeUndefined();
    });
  });

  it('failure_mode_allow does not turn a denial into an allow', async () => {
    gateway.script = () => ({ response: { status: { code: 7 } } });
    await withHarness({ extAuthz: { failure_mode_allow: true } }, async (h) => {
      expect((await sendRequest(h.port, { authority: AUTHORITY })).status).toBe(403);
      expect(upstream.seen).toHaveLength(0);
    });
  });
});

describe('with_request_body', () => {
  it('sends the whole body with x-envoy-auth-partial-body: false when it fits, and size = bytes received', async () => {
    await withHarness({ extAuthz: { with_request_body: { max_request_bytes: 16 } } }, async (h) => {
      const res = await sendRequest(h.port, { method: 'POST', authority: AUTHORITY, body: 'exactly-16-bytes' });
      expect(res.status).toBe(200);
      const hr = httpAttrs(h.lastExchange());
      expect(hr['body']).toBe('exactly-16-bytes');
      expect(hr['size']).toBe('16');
      expect((hr['headers'] as Obj)['x-envoy-auth-partial-body']).toBe('false');
      expect(upstream.last().body).toBe('exactly-16-bytes');
    });
  });

  it('answers 413 itself without calling the gateway when the body is too large and partial messages are not allowed', async () => {
    await withHarness({ extAuthz: { with_request_body: { max_request_bytes: 8 } } }, async (h) => {
      const res = await sendRequest(h.port, { method: 'POST', authority: AUTHORITY, body: 'this body is longer than eight bytes' });
      expect(res.status).toBe(413);
      expect(res.text).toBe('Payload Too Large');
      expect(res.headers['content-type']).toBe('text/plain');
      expect(gateway.received).toHaveLength(0);
      expect(upstream.seen).toHaveLength(0);
      expect(h.lastExchange()).toMatchObject({ checkSkipped: 'request_payload_too_large', response: { details: 'request_payload_too_large' } });
    });
  });

  it('with allow_partial_message cuts the body to max_request_bytes, marks it partial and forwards all of it', async () => {
    await withHarness({ extAuthz: { with_request_body: { max_request_bytes: 8, allow_partial_message: true } } }, async (h) => {
      const body = 'abcdefghijklmnopqrstuvwxyz';
      const res = await sendRequest(h.port, { method: 'POST', authority: AUTHORITY, body });
      expect(res.status).toBe(200);
      const hr = httpAttrs(h.lastExchange());
      expect(hr['body']).toBe('abcdefgh');
      expect((hr['headers'] as Obj)['x-envoy-auth-partial-body']).toBe('true');
      expect(Number(hr['size'])).toBeGreaterThanOrEqual(8);
      expect(upstream.last().body).toBe(body);
    });
  });

  it('pack_as_bytes sends raw_body; a request without a body is checked at headers with no body fields', async () => {
    await withHarness({ extAuthz: { with_request_body: { max_request_bytes: 64, pack_as_bytes: true } } }, async (h) => {
      await sendRequest(h.port, { method: 'POST', authority: AUTHORITY, body: Buffer.from([0xff, 0x00, 0x41]) });
      const hr = httpAttrs(h.lastExchange());
      expect(hr['body']).toBeUndefined();
      expect(Buffer.from(hr['raw_body'] as Uint8Array)).toEqual(Buffer.from([0xff, 0x00, 0x41]));

      await sendRequest(h.port, { method: 'GET', authority: AUTHORITY });
      const hr2 = httpAttrs(h.lastExchange());
      expect(hr2['raw_body']).toBeUndefined();
      expect((hr2['headers'] as Obj)['x-envoy-auth-partial-body']).toBeUndefined();
    });
  });

  it('a string body replaces invalid UTF-8 with "!"; chunked bodies are buffered too', async () => {
    await withHarness({ extAuthz: { with_request_body: { max_request_bytes: 64 } } }, async (h) => {
      await sendRequest(h.port, { method: 'POST', authority: AUTHORITY, chunks: [Buffer.from([0x68, 0x69, 0xff]), 'there'] });
      const hr = httpAttrs(h.lastExchange());
      expect(hr['body']).toBe('hi!there');
      expect(checkHeaders(h.lastExchange())['transfer-encoding']).toBeUndefined();
    });
  });

  it('per-route check_settings can disable buffering or override the buffer settings', async () => {
    await withHarness(
      {
        extAuthz: { with_request_body: { max_request_bytes: 4 } },
        extraRoutes: [{ name: 'nobuf', match: { prefix: '/upload' }, route: { cluster: 'original_dst' }, typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', check_settings: { disable_request_body_buffering: true } } } }],
        routePerRoute: { check_settings: { with_request_body: { max_request_bytes: 3, allow_partial_message: true } } },
      },
      async (h) => {
        const r1 = await sendRequest(h.port, { method: 'POST', path: '/upload', authority: AUTHORITY, body: 'a long upload body' });
        expect(r1.status).toBe(200);
        expect(httpAttrs(h.lastExchange())['body']).toBeUndefined();
        expect(h.lastExchange().route).toBe('nobuf');
        const r2 = await sendRequest(h.port, { method: 'POST', path: '/other', authority: AUTHORITY, body: 'abcdef' });
        expect(r2.status).toBe(200);
        expect(httpAttrs(h.lastExchange())['body']).toBe('abc');
      },
    );
  });
});

describe('validate_mutations and decoder_header_mutation_rules', () => {
  it('validate_mutations: an invalid header value or name gives a 500 local reply', async () => {
    await withHarness({ extAuthz: { validate_mutations: true } }, async (h) => {
      gateway.script = () => ok({ headers: [header('x-bad', 'line\r\nbreak')] });
      const r1 = await sendRequest(h.port, { authority: AUTHORITY });
      expect(r1.status).toBe(500);
      expect(r1.text).toBe('');
      expect(h.lastExchange().response?.details).toBe('ext_authz_invalid');
      gateway.script = () => ok({ headers: [header('bad name', 'v')] });
      expect((await sendRequest(h.port, { authority: AUTHORITY })).status).toBe(500);
      gateway.script = () => ok({ response_headers_to_add: [header('x-resp', 'a\u0000b')] });
      expect((await sendRequest(h.port, { authority: AUTHORITY })).status).toBe(500);
      expect(upstream.seen).toHaveLength(0);
    });
  });

  it('mutation rules ignore changes to host, :authority, :method, :scheme and x-envoy-*', async () => {
    gateway.script = () =>
      ok({
        headers: [header('host', 'evil.example'), header(':authority', 'evil.example'), header(':method', 'DELETE'), header('x-envoy-retry-on', '5xx'), header('x-allowed', 'yes')],
        headers_to_remove: ['x-envoy-keep'],
      });
    await withHarness({ extAuthz: { decoder_header_mutation_rules: {} } }, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY, headers: [['x-envoy-keep', 'k']] });
      expect(res.status).toBe(200);
      const seen = upstream.last();
      expect(seen.headers.host).toBe(AUTHORITY);
      expect(seen.method).toBe('GET');
      expect(seen.headers['x-envoy-retry-on']).toBeUndefined();
      expect(seen.headers['x-envoy-keep']).toBe('k');
      expect(seen.headers['x-allowed']).toBe('yes');
    });
  });

  it('mutation rules with disallow_is_error turn a disallowed mutation into a 500', async () => {
    gateway.script = () => ok({ headers: [header(':method', 'DELETE')] });
    await withHarness({ extAuthz: { decoder_header_mutation_rules: { disallow_is_error: true } } }, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(500);
      expect(upstream.seen).toHaveLength(0);
    });
  });

  it('mutation rules: disallow_expression (RE2 full match) and allow_envoy', async () => {
    gateway.script = () => ok({ headers: [header('x-secret-1', 'a'), header('x-secret', 'b'), header('x-envoy-custom', 'c')] });
    await withHarness({ extAuthz: { decoder_header_mutation_rules: { disallow_expression: { regex: 'x-secret-\\d+' }, allow_envoy: true } } }, async (h) => {
      await sendRequest(h.port, { authority: AUTHORITY });
      const seen = upstream.last();
      expect(seen.headers['x-secret-1']).toBeUndefined();
      expect(seen.headers['x-secret']).toBe('b');
      expect(seen.headers['x-envoy-custom']).toBe('c');
    });
  });
});

describe('routing and per-route settings', () => {
  it('per-route disabled skips the Check and still proxies', async () => {
    await withHarness(
      { extraRoutes: [{ name: 'health', match: { path: '/healthz' }, route: { cluster: 'original_dst' }, typed_per_filter_config: { 'envoy.filters.http.ext_authz': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', disabled: true } } }] },
      async (h) => {
        const res = await sendRequest(h.port, { authority: AUTHORITY, path: '/healthz' });
        expect(res.status).toBe(200);
        expect(gateway.received).toHaveLength(0);
        expect(h.lastExchange().checkSkipped).toBe('per_route_disabled');
        await sendRequest(h.port, { authority: AUTHORITY, path: '/healthz/deep' });
        expect(gateway.received).toHaveLength(1);
      },
    );
  });

  it('an unknown original destination is 503 after the check; no route is 404 without a check', async () => {
    await withHarness({}, async (h) => {
      const res = await sendRequest(h.port, { authority: 'unknown.example' });
      expect(res.status).toBe(503);
      expect(gateway.received).toHaveLength(1);
      expect(attrs(h.lastExchange())['destination']).toEqual(sock(h.port));
    });
    const boot = sidecarBootstrap();
    const vh = ((((((boot['static_resources'] as Obj)['listeners'] as Obj[])[0]?.['filter_chains'] as Obj[])[0]?.['filters'] as Obj[])[0]?.['typed_config'] as Obj)['route_config'] as Obj)['virtual_hosts'] as Obj[];
    (vh[0] as Obj)['domains'] = ['only.example'];
    const h = await EnvoyExtAuthzHarness.start({ bootstrap: boot, gateway: `127.0.0.1:${gateway.port}`, upstreams: { [AUTHORITY]: { host: '127.0.0.1', port: upstream.port } } });
    try {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.status).toBe(404);
      expect(gateway.received).toHaveLength(1);
      expect(h.lastExchange()).toMatchObject({ checkSkipped: 'no_route', response: { details: 'route_not_found' } });
    } finally {
      await h.close();
    }
  });

  it('suppress_envoy_headers drops x-envoy-expected-rq-timeout-ms and x-envoy-upstream-service-time', async () => {
    await withHarness({ router: { suppress_envoy_headers: true } }, async (h) => {
      const res = await sendRequest(h.port, { authority: AUTHORITY });
      expect(res.headers['x-envoy-upstream-service-time']).toBeUndefined();
      expect(upstream.last().headers['x-envoy-expected-rq-timeout-ms']).toBeUndefined();
    });
  });
});

describe('harnessSettingsFromBootstrap', () => {
  it('reads defaults the way Envoy does', () => {
    const s = harnessSettingsFromBootstrap(sidecarBootstrap());
    expect(s.listenerName).toBe('outbound');
    expect(s.extAuthz).toMatchObject({
      filterName: 'envoy.filters.http.ext_authz',
      timeoutMs: 200,
      grpcTarget: 'joch_gateway',
      failureModeAllow: false,
      statusOnError: 403,
      withRequestBody: undefined,
      validateMutations: false,
      decoderHeaderMutationRules: undefined,
      enableDynamicMetadataIngestion: true,
    });
    expect(s.httpFilters).toEqual(['envoy.filters.http.ext_authz', 'envoy.filters.http.router']);
    expect(s.notEmulated).toEqual([]);
    expect(s.unresolvedAnyTypes).toEqual([]);
  });

  it('reads timeouts, buffer settings and camelCase JSON names', () => {
    const s = harnessSettingsFromBootstrap(
      sidecarBootstrap({ extAuthz: { grpc_service: { envoyGrpc: { clusterName: 'gw' }, timeout: '0.25s' }, withRequestBody: { maxRequestBytes: 1024, allowPartialMessage: true, packAsBytes: true }, include_peer_certificate: true } }),
    );
    expect(s.extAuthz).toMatchObject({ timeoutMs: 250, grpcTarget: 'gw', withRequestBody: { maxRequestBytes: 1024, allowPartialMessage: true, packAsBytes: true }, includePeerCertificate: true });
  });

  it('rejects unknown fields, bad types, a missing ext_authz filter and non-V3 transport', () => {
    expect(() => harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { failure_mode_alow: true } }))).toThrow(/unknown field "failure_mode_alow"/);
    expect(() => harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { failure_mode_allow: 'yes' } }))).toThrow(HarnessConfigError);
    expect(() => harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { grpc_service: { envoy_grpc: { cluster_name: 'x' }, timeout: 200 } } }))).toThrow(/Duration/);
    expect(() => harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { transport_api_version: undefined } }))).toThrow(/transport_api_version must be V3/);
    expect(() => harnessSettingsFromBootstrap({ static_resources: { listeners: [] } })).toThrow(/no listener/);
    expect(() => harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { http_service: { server_uri: { uri: 'http://x', cluster: 'x', timeout: '1s' } } } }))).toThrow(/oneof/);
  });

  it('lists settings it does not play', () => {
    const s = harnessSettingsFromBootstrap(sidecarBootstrap({ extAuthz: { metadata_context_namespaces: ['envoy.filters.http.jwt_authn'] }, hcm: { use_remote_address: true } }));
    expect(s.notEmulated).toEqual(['ext_authz.metadata_context_namespaces', 'http_connection_manager.use_remote_address']);
  });

  it.skipIf(!existsSync('envoy/sidecar.yaml'))('drives a request through the shipped envoy/sidecar.yaml', async () => {
    const bootstrap: unknown = parseYaml(readFileSync('envoy/sidecar.yaml', 'utf8'));
    const s = harnessSettingsFromBootstrap(bootstrap);
    expect(s.extAuthz.filterName).toBe('envoy.filters.http.ext_authz');
    expect(s.unresolvedAnyTypes).toEqual([]);
    // Only other HTTP filters (ext_proc) are outside what this harness plays.
    expect(s.notEmulated.every((n) => n.startsWith('http_filters.'))).toBe(true);
    const route = s.virtualHosts.flatMap((v) => v.routes).find((r) => r.match['prefix'] === '/');
    const expected: Record<string, string> = {};
    for (const p of route?.perFilter ?? []) Object.assign(expected, p.checkSettings?.['context_extensions'] ?? {});
    const h = await EnvoyExtAuthzHarness.start({ bootstrap, gateway: `127.0.0.1:${gateway.port}`, upstreams: { [AUTHORITY]: { host: '127.0.0.1', port: upstream.port } } });
    try {
      const res = await sendRequest(h.port, { authority: AUTHORITY, path: '/v1/chat/completions' });
      expect(res.status).toBe(200);
      expect(attrs(h.lastExchange())['context_extensions']).toEqual(expected);
      expect(Object.keys(expected).length).toBeGreaterThan(0);
      expect(gateway.last().deadlineInMs).toBeLessThanOrEqual(s.extAuthz.timeoutMs ?? Infinity);
    } finally {
      await h.close();
    }
  });
});
