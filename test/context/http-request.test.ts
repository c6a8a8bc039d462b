import { describe, expect, it } from 'vitest';
import { contextFromHttpRequest } from '../../src/context/http-request.js';
import { identityFromExtensions, resolveIdentity } from '../../src/context/identity.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../../src/context/providers.js';

const providers = providerMatcher([DEFAULT_PROVIDER_HOSTS, { acme: ['llm.acme.internal'] }]);
const req = (authority: string, path = '/', headers: Record<string, string> = {}, method = 'POST') => ({ method, path, authority, headers });

describe('contextFromHttpRequest', () => {
  it('classifies provider API hosts as model calls, with the model where the URL names it', () => {
    expect(contextFromHttpRequest(req('api.openai.com', '/v1/chat/completions'), {}, providers)).toMatchObject({
      hook: 'message',
      model: { provider: 'openai' },
      destination: { host: 'api.openai.com', port: 443 },
      request: { method: 'POST', path: '/v1/chat/completions' },
    });
    expect(contextFromHttpRequest(req('generativelanguage.googleapis.com', '/v1beta/models/gemini-1.5-pro:generateContent'), {}, providers).model).toEqual({
      provider: 'google',
      name: 'gemini-1.5-pro',
    });
    expect(contextFromHttpRequest(req('myco.openai.azure.com'), {}, providers).model?.provider).toBe('azure-openai');
    expect(contextFromHttpRequest(req('bedrock-runtime.us-east-1.amazonaws.com', '/model/anthropic.claude-v2/invoke'), {}, providers).model).toEqual({
      provider: 'aws-bedrock',
      name: 'anthropic.claude-v2',
    });
    expect(contextFromHttpRequest(req('llm.acme.internal'), {}, providers).model?.provider).toBe('acme');
  });
  it('classifies MCP streamable HTTP by its headers or path', () => {
    const mcp = { hook: 'mcpOutbound', mcp: { server: 'mcp.example.com', direction: 'outbound' } };
    expect(contextFromHttpRequest(req('mcp.example.com', '/rpc', { 'mcp-protocol-version': '2025-06-18' }), {}, providers)).toMatchObject(mcp);
    expect(contextFromHttpRequest(req('mcp.example.com', '/rpc', { 'mcp-session-id': 'abc' }), {}, providers)).toMatchObject(mcp);
    expect(contextFromHttpRequest(req('mcp.example.com', '/x', { accept: 'application/json, text/event-stream' }), {}, providers)).toMatchObject(mcp);
    expect(contextFromHttpRequest(req('mcp.example.com', '/mcp', {}, 'GET'), {}, providers)).toMatchObject(mcp);
  });
  it('treats everything else as plain egress, normalising the host', () => {
    expect(contextFromHttpRequest(req('Example.COM.:8443', '/a?b=c'), {}, providers)).toMatchObject({ hook: 'egress', destination: { host: 'example.com', port: 8443 } });
    expect(contextFromHttpRequest({ ...req('example.com'), scheme: 'http' }, {}, providers).destination?.port).toBe(80);
  });
  it('parses JSON bodies into the payload and keeps other bodies as text', () => {
    expect(contextFromHttpRequest({ ...req('x.com', '/', { 'content-type': 'application/json' }), body: '{"a":1}' }, {}, providers).payload).toEqual({ a: 1 });
    expect(contextFromHttpRequest({ ...req('x.com', '/', { 'content-type': 'application/json' }), body: '{bad' }, {}, providers).payload).toBe('{bad');
    expect(contextFromHttpRequest({ ...req('x.com'), body: 'hello' }, {}, providers).payload).toBe('hello');
  });
});

describe('agent identity', () => {
  it('reads context_extensions', () => {
    expect(identityFromExtensions({ tenant: 't', namespace: 'ns', environment: 'prod', agent: 'bot', 'agent-id': 'a-1', framework: 'langgraph', 'label.env': 'prod', other: 'x' })).toEqual({
      tenant: 't',
      namespace: 'ns',
      environment: 'prod',
      agent: { name: 'bot', id: 'a-1', framework: 'langgraph', labels: { env: 'prod' } },
    });
  });
  it('takes namespace and agent from a SPIFFE principal, and refuses a conflicting route', () => {
    expect(resolveIdentity({ environment: 'prod' }, 'spiffe://cluster.local/ns/support/sa/support-bot')).toEqual({
      environment: 'prod',
      namespace: 'support',
      agent: { name: 'support-bot' },
    });
    expect(resolveIdentity({ namespace: 'billing' }, 'spiffe://cluster.local/ns/support/sa/bot')).toEqual({
      error: 'the TLS principal is in namespace "support" but the route says "billing"',
    });
    expect(resolveIdentity({ namespace: 'x' }, 'CN=not-spiffe')).toEqual({ namespace: 'x' });
  });
});
