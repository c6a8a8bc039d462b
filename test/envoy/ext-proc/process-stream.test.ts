import { describe, expect, it } from 'vitest';
import { ENVOY_DEFAULT_MODE, SHIPPED_MODE } from '../../../src/envoy/ext-proc/messages.js';
import { eventEnd, ProcessStream, type BodyInspector, type BodyVerdict, type EventVerdict } from '../../../src/envoy/ext-proc/process-stream.js';
import { kindOf, reqBody, reqHeaders, respBody, respHeaders, send, setHeaders, wireRequest } from './wire.js';

/** An inspector driven by the body text: DENY denies, REDACT-ME is replaced, events mentioning EVIL are stopped. */
function inspector(seen: string[] = []): BodyInspector {
  return {
    body(dir, _ex, body, complete): BodyVerdict {
      const text = body.toString();
      seen.push(`${dir}:${complete ? 'complete' : 'partial'}:${text}`);
      if (text.includes('DENY')) return { kind: 'deny', reply: { status: 403, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"denied":true}'), details: 'test_denied' } };
      if (text.includes('REDACT-ME')) return { kind: 'replace', body: Buffer.from(text.replaceAll('REDACT-ME', '[REDACTED]')) };
      return { kind: 'continue' };
    },
    event(_dir, _ex, event): EventVerdict {
      seen.push(`event:${event}`);
      if (event.includes('EVIL')) return { kind: 'stop', text: 'event: error\ndata: {"stopped":true}\n\n' };
      if (event.includes('REDACT-ME')) return { kind: 'replace', text: event.replaceAll('REDACT-ME', '[REDACTED]') };
      return { kind: 'keep' };
    },
  };
}

describe('ProcessStream: one response of the matching kind per message', () => {
  it('answers headers and buffered bodies in both directions, default CONTINUE', () => {
    const seen: string[] = [];
    const s = new ProcessStream({ inspector: inspector(seen) });
    expect(send(s, reqHeaders({ 'content-type': 'application/json', 'content-length': '2' })).map(kindOf)).toEqual(['request_headers']);
    const b = send(s, reqBody('{}'));
    expect(b.map(kindOf)).toEqual(['request_body']);
    expect(b[0]?.request_body.response.body_mutation).toBeUndefined();
    expect(send(s, respHeaders({ 'content-type': 'application/json' })).map(kindOf)).toEqual(['response_headers']);
    expect(send(s, respBody('{"ok":1}')).map(kindOf)).toEqual(['response_body']);
    expect(seen).toEqual(['request:complete:{}', 'response:complete:{"ok":1}']);
  });

  it('header-only messages (end_of_stream) and trailers get their own kinds', () => {
    const s = new ProcessStream({ inspector: inspector(), mode: { ...ENVOY_DEFAULT_MODE, request_trailer_mode: 'SEND', response_trailer_mode: 'SEND' } });
    expect(send(s, reqHeaders({}, true)).map(kindOf)).toEqual(['request_headers']);
    expect(send(s, respHeaders({})).map(kindOf)).toEqual(['response_headers']);
    expect(send(s, wireRequest({ response_trailers: { trailers: { headers: [{ key: 'grpc-status', raw_value: Buffer.from('0') }] } } })).map(kindOf)).toEqual(['response_trailers']);
  });

  it('a replaced buffered body keeps content-length consistent through raw_value', () => {
    const s = new ProcessStream({ inspector: inspector() });
    send(s, reqHeaders({ 'content-length': '17' }));
    const [r] = send(s, reqBody('{"a":"REDACT-ME"}'));
    const common = r?.request_body.response;
    const body = Buffer.from(common.body_mutation.body).toString();
    expect(body).toBe('{"a":"[REDACTED]"}');
    expect(setHeaders(common.header_mutation)).toEqual({ 'content-length': String(Buffer.byteLength(body)) });
    expect(common.header_mutation.set_headers[0].header.value ?? '').toBe('');
  });

  it('a denial is an ImmediateResponse, after which the stream stays silent', () => {
    const s = new ProcessStream({ inspector: inspector() });
    send(s, reqHeaders({}));
    const [r] = send(s, reqBody('DENY'));
    expect(kindOf(r!)).toBe('immediate_response');
    expect(r!.immediate_response.status.code).toBe('Forbidden');
    expect(Buffer.from(r!.immediate_response.body).toString()).toBe('{"denied":true}');
    expect(s.done).toBe(true);
    expect(send(s, respHeaders({}))).toEqual([]);
  });

  it('a second body message in BUFFERED mode (Envoy configured otherwise) fails closed', () => {
    const s = new ProcessStream({ inspector: inspector() });
    send(s, reqHeaders({}));
    send(s, reqBody('{"a":', false));
    expect(send(s, reqBody('1}', true))[0]!.immediate_response.details).toBe('joch_ext_proc_mode_mismatch');
  });

  it('BUFFERED_PARTIAL hands over a prefix as incomplete', () => {
    const seen: string[] = [];
    const s = new ProcessStream({ inspector: inspector(seen), mode: { ...SHIPPED_MODE, request_body_mode: 'BUFFERED_PARTIAL' } });
    send(s, reqHeaders({}));
    expect(send(s, reqBody('abc', false)).map(kindOf)).toEqual(['request_body']);
    expect(seen).toEqual(['request:partial:abc']);
  });
});

describe('ProcessStream: STREAMED bodies', () => {
  const streamed = { ...SHIPPED_MODE, request_body_mode: 'STREAMED' as const, response_body_mode: 'STREAMED' as const };

  it('holds chunks (clear_body), decides on the whole, releases it with the last chunk, drops content-length', () => {
    const seen: string[] = [];
    const s = new ProcessStream({ inspector: inspector(seen), mode: streamed });
    const [h] = send(s, reqHeaders({ 'content-length': '6' }));
    expect(h!.request_headers.response.header_mutation.remove_headers).toEqual(['content-length']);
    const [a] = send(s, reqBody('abc', false));
    expect(a!.request_body.response.body_mutation.clear_body).toBe(true);
    const [b] = send(s, reqBody('def', true));
    expect(Buffer.from(b!.request_body.response.body_mutation.body).toString()).toBe('abcdef');
    expect(seen).toEqual(['request:complete:abcdef']);
  });

  it('refuses with 413 once the held bytes pass the limit, and frees them', () => {
    const s = new ProcessStream({ inspector: inspector(), mode: streamed, maxBodyBytes: 8 });
    send(s, reqHeaders({}));
    send(s, reqBody('12345', false));
    const [r] = send(s, reqBody('67890', false));
    expect(r!.immediate_response.status.code).toBe('PayloadTooLarge');
    expect(JSON.parse(Buffer.from(r!.immediate_response.body).toString()).reason).toBe('body-too-large');
    expect(s.done).toBe(true);
  });

  it('a buffered body over the limit is a 413 too', () => {
    const s = new ProcessStream({ inspector: inspector(), maxBodyBytes: 4 });
    send(s, reqHeaders({}));
    expect(send(s, reqBody('12345'))[0]!.immediate_response.status.code).toBe('PayloadTooLarge');
  });

  it('trailers after a held streamed body fail closed instead of losing it', () => {
    const s = new ProcessStream({ inspector: inspector(), mode: { ...streamed, request_trailer_mode: 'SEND' } });
    send(s, reqHeaders({}));
    send(s, reqBody('abc', false));
    const [r] = send(s, wireRequest({ request_trailers: {} }));
    expect(r!.immediate_response.status.code).toBe('InternalServerError');
  });
});

describe('ProcessStream: event streams', () => {
  it('overrides a buffered text/event-stream response to STREAMED (whole mode), only when allowed', () => {
    const s = new ProcessStream({ inspector: inspector(), allowModeOverride: true });
    send(s, reqHeaders({}, true));
    const [r] = send(s, respHeaders({ 'content-type': 'text/event-stream' }));
    expect(r!.mode_override).toEqual({ ...SHIPPED_MODE, response_body_mode: 'STREAMED' });
    const t = new ProcessStream({ inspector: inspector(), allowModeOverride: false });
    send(t, reqHeaders({}, true));
    expect(send(t, respHeaders({ 'content-type': 'text/event-stream' }))[0]!.mode_override).toBeUndefined();
  });

  it('decides event by event, holds a cut event, passes whole events untouched, rewrites changed ones', () => {
    const seen: string[] = [];
    const s = new ProcessStream({ inspector: inspector(seen), allowModeOverride: true });
    send(s, reqHeaders({}, true));
    send(s, respHeaders({ 'content-type': 'text/event-stream' }));
    const [a] = send(s, respBody('data: one\n\n', false));
    expect(a!.response_body.response.body_mutation).toBeUndefined();
    const [b] = send(s, respBody('data: REDACT', false));
    expect(b!.response_body.response.body_mutation.clear_body).toBe(true);
    const [c] = send(s, respBody('-ME\n\ndata: tw', false));
    expect(Buffer.from(c!.response_body.response.body_mutation.body).toString()).toBe('data: [REDACTED]\n\n');
    const [d] = send(s, respBody('o', true));
    expect(Buffer.from(d!.response_body.response.body_mutation.body).toString()).toBe('data: two');
    expect(seen).toEqual(['event:data: one\n\n', 'event:data: REDACT-ME\n\n', 'event:data: two']);
  });

  it('a stopped stream emits the replacement and clears everything after it', () => {
    const s = new ProcessStream({ inspector: inspector(), allowModeOverride: true });
    send(s, reqHeaders({}, true));
    send(s, respHeaders({ 'content-type': 'text/event-stream; charset=utf-8' }));
    const [a] = send(s, respBody('data: ok\r\n\r\ndata: EVIL\r\n\r\ndata: later\r\n\r\n', false));
    expect(Buffer.from(a!.response_body.response.body_mutation.body).toString()).toBe('data: ok\r\n\r\nevent: error\ndata: {"stopped":true}\n\n');
    const [b] = send(s, respBody('data: more\n\n', true));
    expect(b!.response_body.response.body_mutation.clear_body).toBe(true);
  });

  it('finds event ends with LF, CRLF and CR line endings', () => {
    expect(eventEnd(Buffer.from('a\n\nb'), 0)).toBe(3);
    expect(eventEnd(Buffer.from('a\r\n\r\nb'), 0)).toBe(5);
    expect(eventEnd(Buffer.from('a\r\rb'), 0)).toBe(3);
    expect(eventEnd(Buffer.from('a\r\n'), 0)).toBe(-1);
    expect(eventEnd(Buffer.from('a\n\r'), 0)).toBe(-1);
  });
});

describe('ProcessStream: bad input never crashes', () => {
  it('a message with no kind, an out-of-order message or a throwing inspector answers 500 and stops', () => {
    const empty = new ProcessStream({ inspector: inspector() });
    expect(send(empty, wireRequest({}))[0]!.immediate_response.details).toBe('joch_ext_proc_malformed');
    const order = new ProcessStream({ inspector: inspector() });
    expect(send(order, reqBody('x'))[0]!.immediate_response.details).toBe('joch_ext_proc_out_of_order');
    const twice = new ProcessStream({ inspector: inspector() });
    send(twice, reqHeaders({}, true));
    expect(send(twice, reqBody('x'))[0]!.immediate_response.details).toBe('joch_ext_proc_out_of_order');
    const boom = new ProcessStream({
      inspector: {
        body: () => {
          throw new Error('boom');
        },
        event: () => ({ kind: 'keep' }),
      },
    });
    send(boom, reqHeaders({}));
    expect(send(boom, reqBody('x'))[0]!.immediate_response.details).toBe('joch_ext_proc_internal_error');
    expect(send(new ProcessStream({ inspector: inspector() }), undefined as never)).toHaveLength(1);
  });

  it('close() is idempotent and silences the stream', () => {
    const s = new ProcessStream({ inspector: inspector(), mode: { ...SHIPPED_MODE, request_body_mode: 'STREAMED' } });
    send(s, reqHeaders({}));
    send(s, reqBody('abc', false));
    s.close();
    s.close();
    expect(send(s, reqBody('def'))).toEqual([]);
  });
});
