import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../../src/audit/log.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../../src/context/providers.js';
import type { DecisionContext } from '../../../src/context/types.js';
import type { Authorizer } from '../../../src/envoy/authorization.js';
import { gatewayStreams, McpPinRegistry, MemoryPinStore } from '../../../src/envoy/ext-proc/index.js';
import { MAX_BACKLOG, ProcessStream, type BodyInspector, type BodyVerdict } from '../../../src/envoy/ext-proc/process-stream.js';
import { SHIPPED_MODE } from '../../../src/envoy/ext-proc/messages.js';
import { requestFingerprint } from '../../../src/overrides/fingerprint.js';
import { OneShotGrants, STORE_DOWN_MESSAGE, type DecisionTicket, type GrantKind } from '../../../src/overrides/grants.js';
import type { Decision } from '../../../src/policy/decision.js';
import { MemoryStore } from '../../../src/state/memory.js';
import type { Store } from '../../../src/state/store.js';
import { engineFor } from '../../policy/helpers.js';
import { eventually } from '../../state/redis-helpers.js';
import { headerMap, kindOf, reqBody, respBody, send, sendAsync, setHeaders, wireRequest, wireResponse, type Decoded } from './wire.js';

/*
 * ext_proc body decisions and one-shot grants: a rule's denial of a request or response body
 * leaves a ticket and looks for a pass, asynchronously; allows stay synchronous and never reach
 * the store; the stream answers in order, and nothing after a close.
 */

const POLICY = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata: {name: no-external-send-without-approval, namespace: support-platform}
spec:
  rules:
    - id: external-write-needs-approval
      when: {tool.sideEffect: external_write}
      require: {approval: human}
    - id: no-shell
      when: {tool.name: shell}
      action: deny
      reason: tool-forbidden
    - id: no-secret-results
      when: {hook: toolCallResult, tool.name: read_vault}
      action: deny
      reason: vault-output
    - id: model-allowlist
      when: {model.name: gpt-forbidden}
      action: deny
      reason: model-not-permitted
    - id: no-uploads
      when: {request.path: /upload}
      action: deny
      reason: uploads-closed
`;

const IDENTITY = { 'x-joch-identity-tenant': 'acme', 'x-joch-identity-namespace': 'support-platform', 'x-joch-identity-agent-id': 'support-bot-7f9c2' };
const TENANT = 'acme';
const OPERATOR = { type: 'operator' as const, id: 'olivia' };

/** A store that counts its calls (availability aside) and can be switched off or made to fail. */
function storeUnderTest(): { store: Store; calls: () => number; down: (how: 'unavailable' | 'failing' | false) => void } {
  const inner = new MemoryStore();
  let calls = 0;
  let state: 'unavailable' | 'failing' | false = false;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'available') return () => state !== 'unavailable';
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (prop !== 'onAvailability') calls++;
        if (state === 'failing' && (prop === 'takeExpiring' || prop === 'setExpiring')) return Promise.reject(new Error('connection reset'));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls: () => calls, down: (how) => (state = how) };
}

function setup(withGrants = true) {
  const s = storeUnderTest();
  const grants = new OneShotGrants(s.store, new AuditLog({ store: s.store }), { tenant: 'default', environment: 'prod' });
  const engine = engineFor(POLICY);
  const authorizer: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]), ...(withGrants ? { grants } : {}) };
  const decisions: { d: Decision; ctx: DecisionContext }[] = [];
  const pins = new McpPinRegistry(new MemoryPinStore());
  // send_email is announced as reaching an open world: tool.sideEffect external_write.
  pins.observe('tools.example.com', [{ name: 'send_email', description: 'Sends an email', inputSchema: { type: 'object' }, annotations: { openWorldHint: true } }], TENANT);
  const factory = gatewayStreams(authorizer, { pins, onDecision: (d, ctx) => decisions.push({ d, ctx }) });
  const ticketOf = async (decisionId: string): Promise<DecisionTicket> => {
    let t: DecisionTicket | undefined;
    await eventually(async () => (t = await grants.ticket(TENANT, decisionId)) !== undefined, 2000, 'ticket');
    return t as DecisionTicket;
  };
  const grant = async (decisionId: string, kind: GrantKind = 'approval'): Promise<void> => {
    await grants.grant(await ticketOf(decisionId), kind, true, OPERATOR, 'customer confirmed', 60_000);
  };
  return { ...s, grants, decisions, stream: () => factory(IDENTITY), ticketOf, grant };
}

const reqHeaders = (session = 's-1'): ReturnType<typeof wireRequest> =>
  wireRequest({ request_headers: { headers: headerMap({ ':method': 'POST', ':path': '/mcp', ':authority': 'tools.example.com', ':scheme': 'https', 'content-type': 'application/json', 'mcp-session-id': session, 'x-request-id': String(Math.random()) }) } });
const respHeaders = (): ReturnType<typeof wireRequest> => wireRequest({ response_headers: { headers: headerMap({ ':status': '200', 'content-type': 'application/json' }) } });
const call = (id: number, name: string, args: unknown = { to: 'customer@example.com', subject: 'refund' }): string => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });
const bodyText = (b: unknown): string => Buffer.from(b as Uint8Array).toString('utf8');

function immediate(r: Decoded | undefined): { status: string; body: any; headers: Record<string, string> } {
  expect(kindOf(r!)).toBe('immediate_response');
  const ir = r!.immediate_response;
  return { status: ir.status.code, body: JSON.parse(bodyText(ir.body)), headers: setHeaders(ir.headers) };
}

/** Sends a tools/call body after fresh headers; the body's answer must be a promise (a reviewed denial). */
async function reviewedCall(s: ProcessStream, body: string, session?: string): Promise<Decoded[]> {
  send(s, reqHeaders(session));
  const pending = s.onMessage(reqBody(body));
  expect(pending).toBeInstanceOf(Promise);
  return (await pending).responses.map(wireResponse);
}

describe('ext_proc request bodies and one-shot grants', () => {
  it('an allowed tools/call is answered synchronously and never reaches the store', () => {
    const t = setup();
    const s = t.stream();
    send(s, reqHeaders());
    const [r] = send(s, reqBody(call(1, 'lookup', { q: 'order 17' })));
    expect(kindOf(r!)).toBe('request_body');
    expect(t.calls()).toBe(0);
  });

  it('pending approval → approved → the same call (new JSON-RPC id, new session) passes once with approved-once; the next is pending again', async () => {
    const t = setup();
    const s1 = t.stream();
    send(s1, reqHeaders('s-1'));
    const first = await sendAsync(s1, reqBody(call(7, 'send_email')));
    const denial = immediate(first[0]);
    expect(denial.status).toBe('OK');
    expect(denial.body).toMatchObject({ jsonrpc: '2.0', id: 7, error: { data: { reason: 'approval-required', ruleId: 'external-write-needs-approval', pending: { approval: 'human' } } } });
    const decisionId = denial.body.error.data.decisionId as string;
    expect(denial.headers['x-joch-decision-id']).toBe(decisionId);
    const ticket = await t.ticketOf(decisionId);
    expect(ticket).toMatchObject({ tenant: TENANT, agent: 'support-bot-7f9c2', policyNamespace: 'support-platform', policyId: 'no-external-send-without-approval', ruleId: 'external-write-needs-approval', pending: true });
    await t.grant(decisionId);

    t.decisions.length = 0;
    const s2 = t.stream();
    const passed = await reviewedCall(s2, call(8, 'send_email'), 's-2');
    expect(kindOf(passed[0]!)).toBe('request_body');
    expect(passed[0]!['request_body'].response.status ?? 'CONTINUE').toBe('CONTINUE');
    expect(s2.done).toBe(false);
    // Both contexts of the call (toolCallRequest, mcpOutbound) were denied by the rule; the one pass covers both.
    expect(t.decisions.map(({ d, ctx }) => [ctx.hook, d.decision, d.reason])).toEqual([
      ['toolCallRequest', 'allow', 'approved-once'],
      ['mcpOutbound', 'allow', 'approved-once'],
    ]);
    expect(t.decisions[0]!.d.message).toContain(decisionId);
    // The rule matches the call's result too (no hooks in the seed's policy): the pass the call
    // used covers its answer, synchronously, so the result of the approved call reaches the agent.
    t.decisions.length = 0;
    send(s2, respHeaders());
    expect(kindOf(send(s2, respBody(JSON.stringify({ jsonrpc: '2.0', id: 8, result: { content: [] } })))[0]!)).toBe('response_body');
    expect(t.decisions.map(({ d, ctx }) => [ctx.hook, d.decision, d.reason])).toEqual([
      ['toolCallResult', 'allow', 'approved-once'],
      ['mcpInbound', 'allow', 'approved-once'],
    ]);

    const third = immediate((await reviewedCall(t.stream(), call(9, 'send_email'), 's-3'))[0]);
    expect(third.body.error.data).toMatchObject({ reason: 'approval-required', pending: { approval: 'human' } });
    expect(third.body.error.data.decisionId).not.toBe(decisionId);
  });

  it('no pass: the same denial as without grants (same body and headers, only the decision id differs)', async () => {
    const without = setup(false);
    const plain = without.stream();
    send(plain, reqHeaders());
    const [a] = send(plain, reqBody(call(3, 'send_email')));
    const reviewed = await reviewedCall(setup().stream(), call(3, 'send_email'));
    const x = immediate(a);
    const y = immediate(reviewed[0]);
    const strip = (r: typeof x) => ({ ...r, body: { ...r.body, error: { ...r.body.error, data: { ...r.body.error.data, decisionId: 'ID' } } }, headers: { ...r.headers, 'x-joch-decision-id': 'ID' } });
    expect(strip(y)).toEqual(strip(x));
  });

  it('the pass covers an event-stream answer too, decided event by event', async () => {
    const t = setup();
    const first = immediate((await reviewedCall(t.stream(), call(1, 'send_email')))[0]);
    await t.grant(first.body.error.data.decisionId);
    const s = t.stream();
    expect(kindOf((await reviewedCall(s, call(2, 'send_email')))[0]!)).toBe('request_body');
    t.decisions.length = 0;
    send(s, wireRequest({ response_headers: { headers: headerMap({ ':status': '200', 'content-type': 'text/event-stream' }) } }));
    const event = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'sent' }] } })}\n\n`;
    const [ok] = send(s, respBody(event, true));
    expect(kindOf(ok!)).toBe('response_body');
    expect(ok!['response_body'].response.body_mutation).toBeUndefined();
    expect(t.decisions.map(({ d }) => d.reason)).toEqual(['approved-once', 'approved-once']);
  });

  it('a request body sending one id twice leaves no pass for the answer', async () => {
    const t = setup();
    const first = immediate((await reviewedCall(t.stream(), call(1, 'send_email')))[0]);
    await t.grant(first.body.error.data.decisionId);
    const s = t.stream();
    const batch = `[${JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'ping' })},${call(5, 'send_email')}]`;
    expect(kindOf((await reviewedCall(s, batch))[0]!)).toBe('request_body');
    send(s, respHeaders());
    // Which of the two requests it answers is ambiguous: the answer is decided on its own.
    const answer = await sendAsync(s, respBody(JSON.stringify({ jsonrpc: '2.0', id: 5, result: { content: [] } })));
    expect(immediate(answer[0]).body.error.data.reason).toBe('approval-required');
  });

  it('a pass is for the same arguments only', async () => {
    const t = setup();
    const first = immediate((await reviewedCall(t.stream(), call(1, 'send_email', { to: 'a@example.com' })))[0]);
    await t.grant(first.body.error.data.decisionId);
    const other = immediate((await reviewedCall(t.stream(), call(2, 'send_email', { to: 'eve@example.net' })))[0]);
    expect(other.body.error.data.reason).toBe('approval-required');
    expect(kindOf((await reviewedCall(t.stream(), call(3, 'send_email', { to: 'a@example.com' })))[0]!)).toBe('request_body');
  });

  it('store unavailable: denied with the fail-closed message (synchronously, nothing asked)', () => {
    const t = setup();
    t.down('unavailable');
    const s = t.stream();
    send(s, reqHeaders());
    const r = immediate(send(s, reqBody(call(4, 'send_email')))[0]);
    expect(r.body).toMatchObject({ id: 4, error: { message: STORE_DOWN_MESSAGE, data: { reason: 'approval-required' } } });
    expect(t.calls()).toBe(0);
  });

  it('store failing mid-lookup: denied with the fail-closed message', async () => {
    const t = setup();
    t.down('failing');
    const r = immediate((await reviewedCall(t.stream(), call(5, 'shell', { cmd: 'id' })))[0]);
    expect(r.body).toMatchObject({ id: 5, error: { message: STORE_DOWN_MESSAGE, data: { reason: 'tool-forbidden' } } });
  });

  it('a lookup the store never answers: denied with the fail-closed message after grantLookupTimeoutMs', async () => {
    const engine = engineFor(POLICY);
    const hanging: Authorizer = { engine: () => engine, providers: providerMatcher([DEFAULT_PROVIDER_HOSTS]), grants: { review: () => new Promise<Decision>(() => undefined) } };
    const s = gatewayStreams(hanging, { grantLookupTimeoutMs: 30 })(IDENTITY);
    const started = Date.now();
    const r = immediate((await reviewedCall(s, call(6, 'shell', { cmd: 'id' })))[0]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(r.body).toMatchObject({ id: 6, error: { message: STORE_DOWN_MESSAGE, data: { reason: 'tool-forbidden' } } });
  });

  it('a batch: only the first denial that stays denied is reviewed (one ticket), every request gets an error', async () => {
    const t = setup();
    const batch = `[${call(1, 'send_email', { to: 'a@example.com' })},${call(2, 'send_email', { to: 'b@example.com' })}]`;
    const r = immediate((await reviewedCall(t.stream(), batch))[0]);
    expect(r.body.map((e: { id: number }) => e.id)).toEqual([1, 2]);
    // One ticket written, one pass looked up.
    await eventually(async () => t.calls() >= 2, 1000, 'store calls');
    expect(t.calls()).toBe(2);
  });
});

describe('ext_proc response bodies and one-shot grants', () => {
  it('a tool result denied by a rule can be overridden once by break-glass', async () => {
    const t = setup();
    const result = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'db password rotated' }] } });
    const exchange = async (id: number): Promise<Decoded[]> => {
      const s = t.stream();
      send(s, reqHeaders());
      expect(kindOf(send(s, reqBody(call(id, 'read_vault', { path: 'db' })))[0]!)).toBe('request_body');
      send(s, respHeaders());
      const pending = s.onMessage(respBody(result.replace('"id":1', `"id":${id}`)));
      expect(pending).toBeInstanceOf(Promise);
      return (await pending).responses.map(wireResponse);
    };
    const denied = immediate((await exchange(1))[0]);
    expect(denied.body).toMatchObject({ id: 1, error: { data: { reason: 'vault-output', ruleId: 'no-secret-results' } } });
    await t.grant(denied.body.error.data.decisionId, 'override');
    t.decisions.length = 0;
    const [passed] = await exchange(2);
    expect(kindOf(passed!)).toBe('response_body');
    expect(t.decisions.find(({ ctx }) => ctx.hook === 'toolCallResult')?.d).toMatchObject({ decision: 'allow', reason: 'break-glass-override' });
    expect(immediate((await exchange(3))[0]).body.error.data.reason).toBe('vault-output');
  });
});

describe('ext_proc model and plain bodies and one-shot grants', () => {
  const headersFor = (authority: string, path: string) => wireRequest({ request_headers: { headers: headerMap({ ':method': 'POST', ':path': path, ':authority': authority, ':scheme': 'https', 'content-type': 'application/json' }) } });

  it('a model call: the provider-shaped 403 names the decision in x-joch-decision-id; overridden, the call and its answer pass once', async () => {
    const t = setup();
    const chat = JSON.stringify({ model: 'gpt-forbidden', messages: [{ role: 'user', content: 'hi' }] });
    const exchange = async (): Promise<{ req: Decoded; res?: Decoded }> => {
      const s = t.stream();
      send(s, headersFor('api.openai.com', '/v1/chat/completions'));
      const [req] = await sendAsync(s, reqBody(chat));
      if (kindOf(req!) === 'immediate_response') return { req: req! };
      send(s, respHeaders());
      const [res] = await sendAsync(s, respBody(JSON.stringify({ id: 'c1', model: 'gpt-forbidden', choices: [{ message: { role: 'assistant', content: 'hello' } }] })));
      return { req: req!, res: res! };
    };
    const first = immediate((await exchange()).req);
    expect(first.status).toBe('Forbidden');
    expect(first.body).toMatchObject({ error: { code: 'model-not-permitted' } });
    await t.grant(first.headers['x-joch-decision-id']!, 'override');
    t.decisions.length = 0;
    const second = await exchange();
    expect(kindOf(second.req)).toBe('request_body');
    expect(kindOf(second.res!)).toBe('response_body');
    expect(t.decisions.map(({ d }) => d.reason)).toEqual(['break-glass-override', 'break-glass-override']);
    expect(kindOf((await exchange()).req)).toBe('immediate_response');
  });

  it('a plain JSON body: the denial body carries the decision id; approved overrides pass once', async () => {
    const t = setup();
    const upload = async (): Promise<Decoded> => {
      const s = t.stream();
      send(s, headersFor('files.example.com', '/upload'));
      return (await sendAsync(s, reqBody(JSON.stringify({ name: 'report.pdf' }))))[0]!;
    };
    const first = immediate(await upload());
    expect(first.body).toMatchObject({ reason: 'uploads-closed', ruleId: 'no-uploads' });
    expect(first.headers['x-joch-decision-id']).toBe(first.body.decisionId);
    await t.grant(first.body.decisionId, 'override');
    expect(kindOf(await upload())).toBe('request_body');
    expect(kindOf(await upload())).toBe('immediate_response');
  });
});

describe('the request fingerprint of a JSON-RPC payload', () => {
  it('leaves out the id and progress token a client sets per send; everything else counts', () => {
    const ctx = (msg: Record<string, unknown>): DecisionContext => ({ hook: 'mcpOutbound', tenant: 'acme', mcp: { server: 's', method: 'tools/call' }, payload: { jsonrpc: '2.0', method: 'tools/call', ...msg } });
    const a = requestFingerprint(ctx({ id: 1, params: { name: 'x', arguments: { n: 1 }, _meta: { progressToken: 1, trace: 't' } } }));
    expect(requestFingerprint(ctx({ id: 'other', params: { name: 'x', arguments: { n: 1 }, _meta: { progressToken: 99, trace: 't' } } }))).toBe(a);
    expect(requestFingerprint(ctx({ id: 1, params: { name: 'x', arguments: { n: 2 }, _meta: { progressToken: 1, trace: 't' } } }))).not.toBe(a);
    expect(requestFingerprint(ctx({ id: 1, params: { name: 'x', arguments: { n: 1 }, _meta: { progressToken: 1, trace: 'u' } } }))).not.toBe(a);
    // Not JSON-RPC: an `id` in a plain payload is data.
    const plain = (id: number): DecisionContext => ({ hook: 'toolCallRequest', payload: { id } });
    expect(requestFingerprint(plain(1))).not.toBe(requestFingerprint(plain(2)));
  });
});

/** An inspector whose body verdicts wait for the test to settle them. */
function gatedInspector() {
  const gates: { resolve: (v: BodyVerdict) => void; reject: (e: unknown) => void }[] = [];
  const inspector: BodyInspector = {
    body: (_dir, _ex, body) =>
      body.toString().includes('WAIT')
        ? new Promise<BodyVerdict>((resolve, reject) => gates.push({ resolve, reject }))
        : { kind: 'continue' },
    event: () => ({ kind: 'keep' }),
  };
  return { inspector, gates };
}

const deniedReply: BodyVerdict = { kind: 'deny', reply: { status: 403, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"denied":true}'), details: 'test_denied' } };
const trailers = (dir: 'request' | 'response') => wireRequest({ [`${dir}_trailers`]: { trailers: { headers: [] } } });
const withTrailers = { ...SHIPPED_MODE, request_trailer_mode: 'SEND' as const, response_trailer_mode: 'SEND' as const };

describe('ProcessStream while a verdict is pending', () => {
  it('answers later messages after the pending one, in order, one response each', async () => {
    const { inspector, gates } = gatedInspector();
    const s = new ProcessStream({ inspector, mode: withTrailers });
    send(s, reqHeaders());
    const order: string[] = [];
    const body = s.onMessage(reqBody('WAIT'));
    const tr = s.onMessage(trailers('request'));
    expect(body).toBeInstanceOf(Promise);
    expect(tr).toBeInstanceOf(Promise);
    const done = Promise.all([Promise.resolve(body).then((r) => order.push(...r.responses.map((m) => Object.keys(m)[0]!))), Promise.resolve(tr).then((r) => order.push(...r.responses.map((m) => Object.keys(m)[0]!)))]);
    await new Promise((r) => setTimeout(r, 5));
    expect(order).toEqual([]);
    gates[0]!.resolve({ kind: 'continue' });
    await done;
    expect(order).toEqual(['request_body', 'request_trailers']);
    // Drained: the stream is synchronous again.
    expect(send(s, respHeaders()).map(kindOf)).toEqual(['response_headers']);
  });

  it('a denial settles into one ImmediateResponse; messages waiting behind it get nothing', async () => {
    const { inspector, gates } = gatedInspector();
    const s = new ProcessStream({ inspector, mode: withTrailers });
    send(s, reqHeaders());
    const body = s.onMessage(reqBody('WAIT'));
    const tr = s.onMessage(trailers('request'));
    gates[0]!.resolve(deniedReply);
    expect((await body).responses.map((m) => Object.keys(m)[0])).toEqual(['immediate_response']);
    expect((await tr).responses).toEqual([]);
    expect(s.done).toBe(true);
  });

  it('closed (cancelled) while pending: no response, the held body is dropped, later messages are silent', async () => {
    const { inspector, gates } = gatedInspector();
    const s = new ProcessStream({ inspector, mode: { ...SHIPPED_MODE, request_body_mode: 'STREAMED' } });
    send(s, reqHeaders());
    send(s, reqBody('part one ', false));
    const body = s.onMessage(reqBody('WAIT', true));
    const queued = s.onMessage(respHeaders());
    s.close();
    const order: string[] = [];
    const both = Promise.all([Promise.resolve(body).then((r) => (order.push('body'), r)), Promise.resolve(queued).then((r) => (order.push('queued'), r))]);
    gates[0]!.resolve({ kind: 'continue' });
    expect(await both).toEqual([{ responses: [] }, { responses: [] }]);
    expect(order).toEqual(['body', 'queued']);
    expect(s.onMessage(respBody('x'))).toEqual({ responses: [] });
  });

  it('a rejected verdict fails closed with a 500', async () => {
    const { inspector, gates } = gatedInspector();
    const s = new ProcessStream({ inspector });
    send(s, reqHeaders());
    const body = s.onMessage(reqBody('WAIT'));
    gates[0]!.reject(new Error('boom'));
    const [r] = (await body).responses;
    expect(wireResponse(r!).immediate_response.details).toBe('joch_ext_proc_internal_error');
  });

  it('the backlog is bounded: one message too many fails the stream closed, answered in its turn', async () => {
    const { inspector, gates } = gatedInspector();
    const failures: string[] = [];
    const s = new ProcessStream({ inspector, mode: withTrailers, onFailure: (d) => failures.push(d) });
    send(s, reqHeaders());
    const body = s.onMessage(reqBody('WAIT'));
    const waiting = Array.from({ length: MAX_BACKLOG }, () => s.onMessage(trailers('response')));
    const over = s.onMessage(trailers('response'));
    expect(failures).toEqual(['joch_ext_proc_backlog']);
    expect(s.done).toBe(true);
    gates[0]!.resolve({ kind: 'continue' });
    expect(await body).toEqual({ responses: [] });
    for (const w of waiting) expect(await w).toEqual({ responses: [] });
    const [r] = (await over).responses;
    expect(wireResponse(r!).immediate_response.details).toBe('joch_ext_proc_backlog');
  });

  it('bytes waiting count against maxBodyBytes', () => {
    const { inspector } = gatedInspector();
    const s = new ProcessStream({ inspector, mode: { ...SHIPPED_MODE, response_body_mode: 'STREAMED' }, maxBodyBytes: 64 });
    send(s, reqHeaders());
    void s.onMessage(reqBody('WAIT'));
    expect(s.onMessage(respBody('x'.repeat(40), false))).toBeInstanceOf(Promise);
    void s.onMessage(respBody('y'.repeat(40), false));
    expect(s.done).toBe(true);
  });
});
