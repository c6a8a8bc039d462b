import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../../src/context/providers.js';
import { gatewayStreams, registerExtProc } from '../../../src/envoy/ext-proc/index.js';
import { envoyServices } from '../../../src/envoy/protos.js';
import { GrpcServer } from '../../../src/grpc/server.js';
import type { Decision } from '../../../src/policy/decision.js';
import { engineFor } from '../../policy/helpers.js';

/*
 * ext_proc's observability mode (`observability_mode` on each ProcessingRequest): Envoy sends
 * the messages without waiting, and the server must not answer them. The gateway still
 * inspects them, so the decision is recorded (here through onDecision, which feeds audit).
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

const method = envoyServices().externalProcessor['Process']!;
const decisions: Decision[] = [];
let server: GrpcServer;
let client: grpc.Client;

beforeAll(async () => {
  const engine = engineFor(POLICY);
  server = new GrpcServer();
  registerExtProc(server, gatewayStreams({ engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]) }, { onDecision: (d) => decisions.push(d) }));
  client = new grpc.Client(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`, grpc.credentials.createInsecure());
});
afterAll(async () => {
  client.close();
  await server.close(100);
});

const headers = { request_headers: { headers: { headers: [[':method', 'POST'], [':path', '/mcp'], [':authority', 'tools.example.com'], ['content-type', 'application/json']].map(([key, v]) => ({ key, raw_value: Buffer.from(v!) })) } } };
const shell = { request_body: { body: Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell', arguments: {} } })), end_of_stream: true } };

function exchange(messages: Record<string, unknown>[]): Promise<{ received: Record<string, unknown>[]; status: grpc.StatusObject }> {
  const call = client.makeBidiStreamRequest(method.path, (a: Record<string, unknown>) => method.requestSerialize(a), (b: Buffer) => method.responseDeserialize(b) as Record<string, unknown>, new grpc.Metadata());
  const received: Record<string, unknown>[] = [];
  call.on('data', (m: Record<string, unknown>) => received.push(m));
  call.on('error', () => undefined);
  for (const m of messages) call.write(m);
  call.end();
  return new Promise((resolve) => call.on('status', (status: grpc.StatusObject) => resolve({ received, status })));
}

describe('ext_proc observability mode', () => {
  it('answers nothing, ends OK, and still decides and records', async () => {
    const before = decisions.length;
    const { received, status } = await exchange([headers, shell].map((m) => ({ ...m, observability_mode: true })));
    expect(status.code).toBe(grpc.status.OK);
    expect(received).toEqual([]);
    expect(decisions.slice(before).map((d) => [d.decision, d.ruleId])).toContainEqual(['deny', 'no-shell']);
  });

  it('the same messages without the flag are answered, the body with the denial', async () => {
    const { received, status } = await exchange([headers, shell]);
    expect(status.code).toBe(grpc.status.OK);
    expect(received).toHaveLength(2);
    expect(received[1]).toHaveProperty('immediate_response');
  });
});
