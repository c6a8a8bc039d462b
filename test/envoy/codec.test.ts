import { readFileSync } from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, renderFields } from '../../scripts/gen-codec-fields.js';
import { httpCheckResponse, networkCheckResponse } from '../../src/envoy/check-response.js';
import { decodeCheckRequest } from '../../src/envoy/codec/check-request.js';
import { encodeCheckResponse } from '../../src/envoy/codec/check-response.js';
import { AUTHORIZATION_PROTO, LOADER_OPTIONS } from '../../src/envoy/protos.js';
import { WireError, Writer } from '../../src/grpc/wire.js';
import type { Decision } from '../../src/policy/decision.js';

const definition = protoLoader.loadSync([AUTHORIZATION_PROTO], LOADER_OPTIONS);
const check = (definition['envoy.service.auth.v3.Authorization'] as protoLoader.ServiceDefinition).Check!;
const withDefaults = protoLoader.loadSync([AUTHORIZATION_PROTO], { ...LOADER_OPTIONS, defaults: true });
const checkWithDefaults = (withDefaults['envoy.service.auth.v3.Authorization'] as protoLoader.ServiceDefinition).Check!;

/** What the hot-path decoder reads, projected out of proto-loader's full decoding. */
function projection(m: Record<string, unknown>): unknown {
  const pick = (o: unknown, keys: string[]): Record<string, unknown> | undefined => {
    if (o === undefined || o === null) return undefined;
    const out: Record<string, unknown> = {};
    for (const k of keys) if ((o as Record<string, unknown>)[k] !== undefined) out[k] = (o as Record<string, unknown>)[k];
    return out;
  };
  const a = m.attributes as Record<string, Record<string, unknown>> | undefined;
  if (a === undefined) return {};
  const peer = (p: Record<string, unknown> | undefined) => {
    if (p === undefined) return undefined;
    const addr = (p.address as { socket_address?: unknown } | undefined)?.socket_address;
    return JSON.parse(
      JSON.stringify({
        ...pick(p, ['labels', 'principal']),
        ...(p.address ? { address: addr ? { socket_address: pick(addr, ['address', 'port_value']) } : {} } : {}),
      }),
    ) as unknown;
  };
  const http = (a.request as { http?: Record<string, unknown> } | undefined)?.http;
  return JSON.parse(
    JSON.stringify({
      attributes: {
        source: peer(a.source),
        destination: peer(a.destination),
        request: a.request ? { http: http ? pick(http, ['id', 'method', 'headers', 'header_map', 'path', 'host', 'scheme', 'protocol', 'body', 'raw_body']) : undefined } : undefined,
        context_extensions: a.context_extensions,
        tls_session: a.tls_session ? pick(a.tls_session, ['sni']) : undefined,
      },
    }),
  ) as unknown;
}

const text = fc.string({ unit: 'binary', maxLength: 40 });
const map = fc.dictionary(fc.string({ maxLength: 12 }), text, { maxKeys: 6 });
const socket = fc.record({ address: fc.option(text, { nil: undefined }), port_value: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }) }, { requiredKeys: [] });
const peer = fc.record(
  {
    address: fc.record({ socket_address: socket }, { requiredKeys: [] }),
    labels: map,
    principal: text,
    service: text,
    certificate: text,
  },
  { requiredKeys: [] },
);
const httpRequest = fc.record(
  {
    id: text,
    method: text,
    headers: map,
    header_map: fc.record({ headers: fc.array(fc.record({ key: text, value: text, raw_value: fc.uint8Array({ maxLength: 20 }).map((u) => Buffer.from(u)) }, { requiredKeys: [] }), { maxLength: 4 }) }),
    path: text,
    host: text,
    scheme: text,
    query: text,
    protocol: text,
    size: fc.bigInt({ min: -1n, max: 1n << 40n }).map(String),
    body: text,
    raw_body: fc.uint8Array({ maxLength: 30 }).map((u) => Buffer.from(u)),
  },
  { requiredKeys: [] },
);
const checkRequest = fc.record(
  {
    attributes: fc.record(
      {
        source: peer,
        destination: peer,
        request: fc.record({ time: fc.record({ seconds: fc.integer({ min: 0 }).map(String), nanos: fc.nat(999_999_999) }), http: httpRequest }, { requiredKeys: [] }),
        context_extensions: map,
        tls_session: fc.record({ sni: text }, { requiredKeys: [] }),
        metadata_context: fc.constant({ filter_metadata: { 'envoy.lb': { fields: { canary: { bool_value: true } } } } }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe('codecs generated from Envoy protos', () => {
  it('fields.generated.ts is what the generator makes from the protos today (no drift)', () => {
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(renderFields());
  });

  it('decodes every CheckRequest exactly as proto-loader does, for the fields decisions read', () => {
    fc.assert(
      fc.property(checkRequest, (req) => {
        const bytes = check.requestSerialize(req);
        expect(JSON.parse(JSON.stringify(decodeCheckRequest(bytes)))).toEqual(projection(check.requestDeserialize(bytes) as Record<string, unknown>));
      }),
      { numRuns: 400 },
    );
  });

  // The protobuf spec merges a message field that occurs twice; protobufjs replaces it, so
  // this case is checked against the spec rather than against proto-loader.
  it('applies proto3 merge rules: repeated message fields merge, the last scalar and map entry win', () => {
    const a = check.requestSerialize({ attributes: { request: { http: { method: 'GET', path: '/a', headers: { x: '1', y: '1' } } }, context_extensions: { k: 'one' } } });
    const b = check.requestSerialize({ attributes: { request: { http: { method: 'POST', headers: { x: '2' } } }, context_extensions: { k: 'two' } } });
    const joined = Buffer.concat([a, b]);
    expect(decodeCheckRequest(joined).attributes).toEqual({
      request: { http: { method: 'POST', path: '/a', headers: { x: '2', y: '1' } } },
      context_extensions: { k: 'two' },
    });
  });

  it('keeps a map key named __proto__ as data', () => {
    const bytes = check.requestSerialize({ attributes: { context_extensions: { __proto__: 'x', agent: 'a' } } });
    const ext = decodeCheckRequest(bytes).attributes?.context_extensions;
    expect(Object.keys(ext ?? {})).toContain('agent');
    expect(Object.getPrototypeOf(ext)).toBeNull();
  });

  it('rejects bytes that are not a CheckRequest with a WireError naming the offset, never another exception', () => {
    const good = check.requestSerialize({ attributes: { request: { http: { method: 'GET', path: '/x', host: 'h' } } } });
    expect(() => decodeCheckRequest(good.subarray(0, good.length - 3))).toThrow(/runs past the end of the message at byte \d+/);
    expect(() => decodeCheckRequest(Buffer.from([0x08, 0x01]))).toThrow(/field 1 has wire type 0, expected 2/);
    expect(() => decodeCheckRequest(Buffer.from([0x0b]))).toThrow(/field 1 has wire type 3, expected 2/);
    expect(() => decodeCheckRequest(Buffer.from([0x9b, 0x06]))).toThrow(/unsupported wire type 3/);
    expect(() => decodeCheckRequest(Buffer.from([0x80, 0x80]))).toThrow(/truncated varint/);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(255), (noise, at, byte) => {
        for (const bytes of [Buffer.from(noise), Buffer.from(good).fill(byte, at % good.length, (at % good.length) + 1)]) {
          try {
            decodeCheckRequest(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(WireError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  const decisions = fc.record({
    decision: fc.constantFrom('allow', 'deny', 'modify'),
    reason: text,
    message: fc.option(text, { nil: undefined }),
    policyId: fc.option(text, { nil: null }),
    policyNamespace: fc.option(text, { nil: null }),
    policyVersion: text,
    ruleId: fc.option(text, { nil: null }),
    decisionId: fc.uuid(),
    status: fc.option(fc.constantFrom(403, 429, 451), { nil: undefined }),
    set: fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 300 }), { maxKeys: 3 }),
    remove: fc.array(fc.string({ minLength: 1, maxLength: 10 }), { maxLength: 3 }),
  });

  it('encodes CheckResponses that decode exactly as the protobufjs encoding of the same answer', () => {
    const w = new Writer(8);
    fc.assert(
      fc.property(decisions, fc.boolean(), (d, network) => {
        const decision = {
          ...d,
          matched: [],
          ...(d.decision === 'modify' ? { modifiedRequest: { headers: { set: d.set, remove: d.remove } } } : {}),
        } as unknown as Decision;
        const response = network ? networkCheckResponse(decision) : httpCheckResponse(decision);
        encodeCheckResponse(w.reset(), response);
        const ours = checkWithDefaults.responseDeserialize(w.finish());
        expect(ours).toEqual(checkWithDefaults.responseDeserialize(check.responseSerialize(response)));
      }),
      { numRuns: 400 },
    );
  });
});
