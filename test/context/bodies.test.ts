import { describe, expect, it } from 'vitest';
import { a2aContext, isA2aMethod } from '../../src/context/a2a.js';
import { parseJsonRpcBody } from '../../src/context/jsonrpc.js';
import { listedTools, mcpRequestContexts, mcpResponseContexts, sideEffectFromAnnotations } from '../../src/context/mcp.js';
import { modelApi, providerError, providerErrorEvent, readModelOutput, requestModel, requestStreams } from '../../src/context/model-apis.js';
import { formatSseEvent, parseSseEvent, splitSseEvents } from '../../src/context/sse.js';

describe('server-sent events', () => {
  it('parses fields, joins data lines, ignores comments, and formats back', () => {
    expect(parseSseEvent(': ping\nevent: message\nid: 7\ndata: {"a":\ndata: 1}\n\n')).toEqual({ event: 'message', id: '7', data: '{"a":\n1}' });
    expect(parseSseEvent(': keep-alive\n\n')).toBeUndefined();
    expect(formatSseEvent({ event: 'message', data: 'a\nb' })).toBe('event: message\ndata: a\ndata: b\n\n');
    expect(splitSseEvents('data: 1\n\ndata: 2\r\n\r\ndata: 3')).toEqual(['data: 1\n\n', 'data: 2\r\n\r\n', 'data: 3']);
  });
});

describe('JSON-RPC and MCP', () => {
  it('accepts single messages and batches, rejects anything else', () => {
    expect(parseJsonRpcBody({ jsonrpc: '2.0', id: 1, method: 'ping' })?.batch).toBe(false);
    expect(parseJsonRpcBody([{ jsonrpc: '2.0', id: 1, method: 'ping' }, { jsonrpc: '2.0', method: 'notifications/initialized' }])?.messages).toHaveLength(2);
    expect(parseJsonRpcBody([])).toBeUndefined();
    expect(parseJsonRpcBody({ jsonrpc: '1.0', id: 1 })).toBeUndefined();
    expect(parseJsonRpcBody({ jsonrpc: '2.0', id: {}, method: 'x' })).toBeUndefined();
    expect(parseJsonRpcBody([{ jsonrpc: '2.0', id: 1, method: 'ping' }, 'junk'])).toBeUndefined();
  });

  it('tools/call is a toolCallRequest and an mcpOutbound with tool, arguments, server, side effect', () => {
    const msg = { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'send_email', arguments: { to: 'x' } } };
    const [call, outbound] = mcpRequestContexts({ hook: 'mcpOutbound', tenant: 'acme' }, 'mail.example.com', msg, (s, t) => (s === 'mail.example.com' && t === 'send_email' ? 'external_write' : undefined));
    expect(call).toMatchObject({ hook: 'toolCallRequest', tenant: 'acme', tool: { name: 'send_email', server: 'mail.example.com', arguments: { to: 'x' }, sideEffect: 'external_write' }, mcp: { method: 'tools/call', direction: 'outbound' } });
    expect(outbound?.hook).toBe('mcpOutbound');
    expect(mcpRequestContexts({ hook: 'mcpOutbound' }, 's', { jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: 'file:///x' } }, undefined).map((c) => c.hook)).toEqual(['mcpOutbound']);
  });

  it('answers are mcpInbound, and toolCallResult when they answer a tools/call', () => {
    const calls = new Map([[4, { method: 'tools/call', tool: 'lookup', arguments: { q: 1 } }], [5, { method: 'prompts/get' }]]);
    const r = mcpResponseContexts({ hook: 'mcpOutbound' }, 's', { jsonrpc: '2.0', id: 4, result: {} }, calls, undefined);
    expect(r.map((c) => c.hook)).toEqual(['toolCallResult', 'mcpInbound']);
    expect(r[0]?.tool).toEqual({ server: 's', name: 'lookup', arguments: { q: 1 } });
    const p = mcpResponseContexts({ hook: 'mcpOutbound' }, 's', { jsonrpc: '2.0', id: 5, result: {} }, calls, undefined);
    expect(p).toHaveLength(1);
    expect(p[0]?.mcp).toEqual({ server: 's', direction: 'inbound', method: 'prompts/get' });
    const sampling = mcpResponseContexts({ hook: 'mcpOutbound' }, 's', { jsonrpc: '2.0', id: 'srv-1', method: 'sampling/createMessage' }, calls, undefined);
    expect(sampling[0]?.mcp?.method).toBe('sampling/createMessage');
  });

  it('side effects from MCP annotations', () => {
    expect(sideEffectFromAnnotations({ readOnlyHint: true })).toBe('read');
    expect(sideEffectFromAnnotations({})).toBe('external_write');
    expect(sideEffectFromAnnotations({ openWorldHint: false })).toBe('internal_write');
    expect(sideEffectFromAnnotations(undefined)).toBeUndefined();
    expect(listedTools({ tools: [{ name: 'a', description: 'd', inputSchema: {}, annotations: { readOnlyHint: true } }, { description: 'no name' }] })).toEqual([{ name: 'a', description: 'd', inputSchema: {}, annotations: { readOnlyHint: true } }]);
  });
});

describe('model APIs', () => {
  it('recognises the API, model and streaming from path and body', () => {
    expect(modelApi('openai', '/v1/chat/completions')).toBe('openai-chat');
    expect(modelApi('openai', '/v1/responses')).toBe('openai-responses');
    expect(modelApi('anthropic', '/v1/messages')).toBe('anthropic-messages');
    expect(modelApi('google', '/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse')).toBe('gemini-generate');
    expect(modelApi('openai', '/v1/threads/t/messages')).toBeUndefined();
    expect(requestModel('gemini-generate', '/v1beta/models/gemini-2.0-flash:generateContent', {})).toBe('gemini-2.0-flash');
    expect(requestModel('openai-chat', '/v1/chat/completions', { model: 'gpt-4o' })).toBe('gpt-4o');
    expect(requestStreams('gemini-generate', '/v1beta/models/g:streamGenerateContent', {})).toBe(true);
    expect(requestStreams('anthropic-messages', '/v1/messages', { stream: true })).toBe(true);
  });

  it('reads usage and tool calls from each provider, whole and streamed', () => {
    expect(readModelOutput('openai-chat', { model: 'gpt-4o', choices: [{ message: { tool_calls: [{ function: { name: 'f', arguments: '{"a":1}' } }] } }], usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } })).toEqual({
      model: 'gpt-4o',
      usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 },
      toolCalls: [{ name: 'f', arguments: { a: 1 } }],
    });
    expect(readModelOutput('openai-chat', { choices: [{ delta: { tool_calls: [{ function: { name: 'g', arguments: '{"par' } }] } }] }).toolCalls).toEqual([{ name: 'g', arguments: '{"par' }]);
    expect(readModelOutput('openai-responses', { type: 'response.completed', response: { model: 'o4', usage: { input_tokens: 5, output_tokens: 6, total_tokens: 11 }, output: [{ type: 'function_call', name: 'h', arguments: '{}' }] } })).toEqual({
      model: 'o4',
      usage: { inputTokens: 5, outputTokens: 6, totalTokens: 11 },
      toolCalls: [{ name: 'h', arguments: {} }],
    });
    expect(readModelOutput('anthropic-messages', { model: 'claude', content: [{ type: 'tool_use', name: 't', input: { x: 1 } }], usage: { input_tokens: 10, output_tokens: 2 } })).toEqual({
      model: 'claude',
      usage: { inputTokens: 10, outputTokens: 2, totalTokens: 12 },
      toolCalls: [{ name: 't', arguments: { x: 1 } }],
    });
    expect(readModelOutput('anthropic-messages', { type: 'message_delta', usage: { output_tokens: 9 } }).usage).toEqual({ outputTokens: 9 });
    expect(readModelOutput('gemini-generate', { modelVersion: 'gemini-2.0', candidates: [{ content: { parts: [{ functionCall: { name: 'w', args: { q: 'x' } } }] } }], usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 2, totalTokenCount: 3 } })).toEqual({
      model: 'gemini-2.0',
      usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 },
      toolCalls: [{ name: 'w', arguments: { q: 'x' } }],
    });
    expect(readModelOutput('openai-chat', 'not an object')).toEqual({ toolCalls: [] });
  });

  it('refusals in each provider shape, whole and as a stream event', () => {
    expect(providerError('anthropic-messages', 403, 'no', 'r')).toEqual({ type: 'error', error: { type: 'permission_error', message: 'no' } });
    expect(providerError('gemini-generate', 403, 'no', 'r')).toMatchObject({ error: { code: 403, status: 'PERMISSION_DENIED' } });
    expect(providerError('openai-chat', 403, 'no', 'r')).toEqual({ error: { message: 'no', type: 'permission_denied', param: null, code: 'r' } });
    expect(providerErrorEvent('anthropic-messages', 'no', 'r').startsWith('event: error\ndata: {')).toBe(true);
    expect(providerErrorEvent('openai-chat', 'no', 'r')).toBe(`data: ${JSON.stringify(providerError('openai-chat', 403, 'no', 'r'))}\n\n`);
  });
});

describe('A2A', () => {
  it('message/send, message/stream, tasks/get, tasks/cancel are A2A with task and context ids', () => {
    for (const m of ['message/send', 'message/stream', 'tasks/get', 'tasks/cancel']) expect(isA2aMethod(m)).toBe(true);
    expect(isA2aMethod('tools/call')).toBe(false);
    const send = a2aContext({ hook: 'egress' }, 'peer.example', { jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { role: 'user', parts: [], messageId: 'm', taskId: 't-1', contextId: 'c-1' } } }, 'outbound', 'message/send');
    expect(send).toMatchObject({ hook: 'a2a', a2a: { peer: 'peer.example', direction: 'outbound', method: 'message/send', taskId: 't-1', contextId: 'c-1' } });
    const got = a2aContext({ hook: 'egress' }, 'peer.example', { jsonrpc: '2.0', id: 2, result: { kind: 'task', id: 't-9', contextId: 'c-9' } }, 'inbound', 'tasks/get');
    expect(got.a2a).toEqual({ peer: 'peer.example', direction: 'inbound', method: 'tasks/get', taskId: 't-9', contextId: 'c-9' });
    expect(a2aContext({ hook: 'egress' }, 'p', { jsonrpc: '2.0', id: 3, method: 'tasks/cancel', params: { id: 't-3' } }, 'outbound', 'tasks/cancel').a2a?.taskId).toBe('t-3');
  });
});
