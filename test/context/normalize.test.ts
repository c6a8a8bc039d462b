import { describe, expect, it } from 'vitest';
import { normalizeContext } from '../../src/context/normalize.js';

describe('normalizeContext', () => {
  it('returns the same object when nothing needs changing', () => {
    const ctx = { hook: 'egress' as const, destination: { host: 'api.openai.com', port: 443 }, request: { method: 'GET', headers: { a: '1' } } };
    expect(normalizeContext(ctx)).toBe(ctx);
  });
  it.each([
    ['API.OpenAI.COM', 'api.openai.com', undefined],
    ['api.openai.com.', 'api.openai.com', undefined],
    ['api.openai.com..', 'api.openai.com', undefined],
    ['api.openai.com:8443', 'api.openai.com', 8443],
    ['[2001:DB8::1]', '2001:db8::1', undefined],
    ['[2001:db8::1]:443', '2001:db8::1', 443],
    ['2001:db8::1', '2001:db8::1', undefined],
    ['10.0.0.1:80', '10.0.0.1', 80],
    ['host:99999', 'host', undefined],
  ])('host %s → %s (port %s)', (raw, host, port) => {
    const out = normalizeContext({ hook: 'egress', destination: { host: raw } });
    expect(out.destination?.host).toBe(host);
    expect(out.destination?.port).toBe(port);
  });
  it('keeps an explicit port over the one in the host', () => {
    expect(normalizeContext({ hook: 'egress', destination: { host: 'a.com:1', port: 2 } }).destination?.port).toBe(2);
  });
  it('normalises SNI, method and header names without touching the input', () => {
    const input = { hook: 'egress' as const, destination: { sni: 'API.Example.COM.' }, request: { method: 'post', headers: { 'X-A': '1', 'x-a': '2', __proto__x: '3' } } };
    const out = normalizeContext(input);
    expect(out.destination?.sni).toBe('api.example.com');
    expect(out.request?.method).toBe('POST');
    expect({ ...out.request?.headers }).toEqual({ 'x-a': '1,2', __proto__x: '3' });
    expect(input.request.method).toBe('post');
  });
  it('treats a header called __proto__ as a plain header', () => {
    const headers = JSON.parse('{"__proto__": "evil", "X-Y": "1"}') as Record<string, string>;
    const out = normalizeContext({ hook: 'egress', request: { headers } });
    expect(Object.hasOwn(out.request?.headers ?? {}, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(out.request?.headers)).toBeNull();
  });
});
