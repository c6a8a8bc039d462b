import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../../src/context/providers.js';
import type { Authorizer } from '../../../src/envoy/authorization.js';
import { gatewayStreams, registerExtProc } from '../../../src/envoy/ext-proc/index.js';
import { envoyServices } from '../../../src/envoy/protos.js';
import { GrpcServer } from '../../../src/grpc/server.js';
import type { Decision } from '../../../src/policy/decision.js';
import { engineFor } from '../../policy/helpers.js';

/*
 * The Process service while a denial waits for the grant lookup: Envoy may cancel the stream
 * or half-close it meanwhile. A cancel leaves nothing behind and writes nothing; a half-close
 * still gets the pending answer, then OK.
 */

const POLICY = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: p}
spec:
  rules:
    - id: no-shell
      when: {tool.name: shell}
      action: deny
`;

/** Grants whose lookups the test settles: `allow` lets the denial through, anything else keeps it. */
const lookups: ((verdict: 'allow' | 'deny') => void)[] = [];
const grants: NonNullable<Authorizer['grants']> = {
  review: (_ctx, d): Promise<Decision> =>
    new Promise((resolve) => lookups.push((v) => resolve(v === 'allow' ? { ...d, decision: 'allow', reason: 'approved-once' } : d))),
};

const method = envoyServices().externalProcessor['Process']!;
let server: GrpcServer;
let client: grpc.Client;
const handlerErrors: unknown[] = [];

beforeAll(async () => {
  const engine = engineFor(POLICY);
  server = new GrpcServer({ onHandlerError: (err) => handlerErrors.push(err) });
  registerExtProc(server, gatewayStreams({ engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]), grants }));
  const port = await server.listen('127.0.0.1', 0);
  client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});
afterAll(async () => {
  client.close();
  await server.close(100);
});

type Call = grpc.ClientDuplexStream<Record<string, unknown>, Record<string, any>>;

function open(): { call: Call; received: Record<string, any>[]; status: Promise<grpc.StatusObject> } {
  const call: Call = client.makeBidiStreamRequest(method.path, (a: Record<string, unknown>) => method.requestSerialize(a), (b: Buffer) => method.responseDeserialize(b) as Record<string, any>, new grpc.Metadata());
  const received: Record<string, any>[] = [];
  call.on('data', (m: Record<string, any>) => received.push(m));
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { call, received, status };
}

const headers = { request_headers: { headers: { headers: [[':method', 'POST'], [':path', '/mcp'], [':authority', 'tools.example.com'], ['content-type', 'application/json']].map(([key, v]) => ({ key, raw_value: Buffer.from(v!) })) } } };
const shell = { request_body: { body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell', arguments: {} } })), end_of_stream: true } };

async function until(f: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ext_proc over gRPC while a grant lookup is pending', () => {
  it('cancelled during the lookup: nothing is written, nothing fails, the server keeps serving', async () => {
    const s = open();
    s.call.write(headers);
    await until(() => s.received.length === 1, 'headers answer');
    const before = lookups.length;
    s.call.write(shell);
    await until(() => lookups.length === before + 1, 'the lookup');
    s.call.cancel();
    expect((await s.status).code).toBe(grpc.status.CANCELLED);
    lookups[before]!('allow');
    await new Promise((r) => setTimeout(r, 20));
    expect(s.received.map((m) => m['response'])).toEqual(['request_headers']);
    expect(handlerErrors).toEqual([]);

    const next = open();
    next.call.write(headers);
    await until(() => next.received.length === 1, 'a new stream');
    next.call.end();
    expect((await next.status).code).toBe(grpc.status.OK);
  });

  it('half-closed during the lookup: the answer is still written, then the call ends OK', async () => {
    const s = open();
    s.call.write(headers);
    await until(() => s.received.length === 1, 'headers answer');
    const before = lookups.length;
    s.call.write(shell);
    await until(() => lookups.length === before + 1, 'the lookup');
    s.call.end();
    await new Promise((r) => setTimeout(r, 20));
    expect(s.received).toHaveLength(1);
    lookups[before]!('deny');
    expect((await s.status).code).toBe(grpc.status.OK);
    expect(s.received.map((m) => m['response'])).toEqual(['request_headers', 'immediate_response']);
  });

  it('a pass found: the body continues; messages sent meanwhile are answered after it, in order', async () => {
    const s = open();
    s.call.write(headers);
    await until(() => s.received.length === 1, 'headers answer');
    const before = lookups.length;
    s.call.write(shell);
    await until(() => lookups.length === before + 1, 'the lookup');
    s.call.write({ response_headers: { headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] } } });
    await new Promise((r) => setTimeout(r, 20));
    expect(s.received).toHaveLength(1);
    lookups[before]!('allow');
    await until(() => s.received.length === 3, 'both answers');
    expect(s.received.map((m) => m['response'])).toEqual(['request_headers', 'request_body', 'response_headers']);
    s.call.end();
    expect((await s.status).code).toBe(grpc.status.OK);
  });
});
