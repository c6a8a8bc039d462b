import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../../src/context/providers.js';
import type { Authorizer } from '../../../src/envoy/authorization.js';
import { gatewayStreams } from '../../../src/envoy/ext-proc/index.js';
import { engineFor } from '../../policy/helpers.js';
import { headerMap, send, wireRequest, wireResponse } from './wire.js';

const POLICY = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: p
spec:
  rules:
    - id: no-shell
      when: {tool.name: shell}
      action: deny
    - id: redact
      when: {data.contains: [pii, secret]}
      action: {redact: true}
`;


const body = fc.oneof(
  fc.string(),
  fc.constant('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"shell"}}'),
  fc.constant('data: {"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"a@b.com"}]}}\n\n'),
  fc.constant('[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]'),
  fc.constant('{"model":"gpt-4o","messages":[]}'),
);
const headers = fc.record({
  ':path': fc.constantFrom('/mcp', '/v1/chat/completions', '/v1/messages', '/x'),
  ':authority': fc.constantFrom('tools.example.com', 'api.openai.com', 'api.anthropic.com', 'a.test'),
  'content-type': fc.constantFrom('application/json', 'text/event-stream', 'text/plain'),
});
const message = fc.oneof(
  fc.record({ kind: fc.constantFrom('request_headers', 'response_headers'), headers, end: fc.boolean() }).map((m) => ({ [m.kind]: { headers: headerMap({ ':method': 'POST', ':status': '200', ...m.headers }), end_of_stream: m.end } })),
  fc.record({ kind: fc.constantFrom('request_body', 'response_body'), body, end: fc.boolean() }).map((m) => ({ [m.kind]: { body: Buffer.from(m.body), end_of_stream: m.end } })),
  fc.constantFrom({ request_trailers: {} }, { response_trailers: {} }, {}),
);
const mode = fc.record({
  request_header_mode: fc.constantFrom('SEND' as const, 'SKIP' as const),
  response_header_mode: fc.constantFrom('SEND' as const, 'SKIP' as const),
  request_body_mode: fc.constantFrom('NONE' as const, 'STREAMED' as const, 'BUFFERED' as const, 'BUFFERED_PARTIAL' as const),
  response_body_mode: fc.constantFrom('NONE' as const, 'STREAMED' as const, 'BUFFERED' as const, 'BUFFERED_PARTIAL' as const),
  request_trailer_mode: fc.constantFrom('SEND' as const, 'SKIP' as const),
  response_trailer_mode: fc.constantFrom('SEND' as const, 'SKIP' as const),
});

describe('ProcessStream under arbitrary message sequences', () => {
  it('never throws; answers each message with one response of its kind, or one ImmediateResponse and then silence', () => {
    const engine = engineFor(POLICY);
    const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]) };
    fc.assert(
      fc.property(mode, fc.array(message, { maxLength: 12 }), fc.boolean(), (m, msgs, override) => {
        const stream = gatewayStreams(authorizer, { mode: m, allowModeOverride: override, maxBodyBytes: 256 })({});
        let immediate = false;
        for (const raw of msgs) {
          const msg = wireRequest(raw);
          const out = send(stream, msg);
          if (immediate) {
            expect(out).toEqual([]);
            continue;
          }
          expect(out).toHaveLength(1);
          const kind = out[0]!['response'];
          if (kind === 'immediate_response') immediate = true;
          else expect(kind).toBe(msg.request);
        }
        stream.close();
      }),
      { numRuns: 400 },
    );
  });
});

describe('ProcessStream under arbitrary message sequences, with denials waiting for a grant lookup', () => {
  it('pipelined messages: one answer each (or one ImmediateResponse, then silence), settled in message order', async () => {
    const engine = engineFor(POLICY);
    await fc.assert(
      fc.asyncProperty(mode, fc.array(message, { maxLength: 12 }), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), fc.boolean(), async (m, msgs, passes, closeEarly) => {
        let n = 0;
        // Each lookup settles on a later turn, as a store round trip would: a pass or not.
        const grants: NonNullable<Authorizer['grants']> = {
          review: (_ctx, d) => new Promise((r) => setTimeout(() => r(passes[n++ % passes.length] ? { ...d, decision: 'allow', reason: 'approved-once' } : d), 0)),
        };
        const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]), grants };
        const stream = gatewayStreams(authorizer, { mode: m, maxBodyBytes: 256 })({});
        const settled: number[] = [];
        const answers = msgs.map((raw, i) => {
          const msg = wireRequest(raw);
          return Promise.resolve(stream.onMessage(msg)).then((r) => {
            settled.push(i);
            return { kind: msg.request, out: r.responses.map(wireResponse) };
          });
        });
        if (closeEarly) stream.close();
        const results = await Promise.all(answers);
        expect(settled).toEqual(msgs.map((_, i) => i));
        // At most one ImmediateResponse, nothing after it. Before it, one answer of the
        // message's kind each; none only when the stream was closed meanwhile (by the test, or
        // by a message over the backlog's bound, whose refusal is the ImmediateResponse).
        const at = results.findIndex((r) => r.out[0]?.['response'] === 'immediate_response');
        const backlogRefusal = at >= 0 && results[at]!.out[0]!['immediate_response'].details === 'joch_ext_proc_backlog';
        results.forEach(({ kind, out }, i) => {
          expect(out.length).toBeLessThanOrEqual(1);
          if (at >= 0 && i > at) return expect(out).toEqual([]);
          if (i === at) return;
          if (out.length === 0) return expect(closeEarly || backlogRefusal).toBe(true);
          expect(out[0]!['response']).toBe(kind);
        });
        stream.close();
      }),
      { numRuns: 300 },
    );
  });
});
