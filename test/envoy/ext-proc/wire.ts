import { envoyServices } from '../../../src/envoy/protos.js';
import type { ProcessingRequestMessage } from '../../../src/envoy/ext-proc/messages.js';
import type { ProcessStream } from '../../../src/envoy/ext-proc/process-stream.js';

/** Messages as they cross the wire: encoded and decoded with the codec built from Envoy's protos. */
const method = (): NonNullable<ReturnType<typeof envoyServices>['externalProcessor']['Process']> => {
  const m = envoyServices().externalProcessor['Process'];
  if (m === undefined) throw new Error('ExternalProcessor has no Process method');
  return m;
};

export function wireRequest(o: Record<string, unknown>): ProcessingRequestMessage {
  const m = method();
  return m.requestDeserialize(m.requestSerialize(o)) as ProcessingRequestMessage;
}

export type Decoded = Record<string, any>;

export function wireResponse(o: Record<string, unknown>): Decoded {
  const m = method();
  return m.responseDeserialize(m.responseSerialize(o)) as Decoded;
}

export function headerMap(h: Record<string, string>): { headers: { key: string; raw_value: Buffer }[] } {
  return { headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) };
}

export const reqHeaders = (h: Record<string, string>, end = false): ProcessingRequestMessage =>
  wireRequest({ request_headers: { headers: headerMap({ ':method': 'POST', ':path': '/mcp', ':authority': 'tools.example.com', ':scheme': 'http', ...h }), end_of_stream: end } });
export const respHeaders = (h: Record<string, string>, end = false): ProcessingRequestMessage =>
  wireRequest({ response_headers: { headers: headerMap({ ':status': '200', ...h }), end_of_stream: end } });
export const reqBody = (body: string | Buffer, end = true): ProcessingRequestMessage => wireRequest({ request_body: { body: Buffer.from(body), end_of_stream: end } });
export const respBody = (body: string | Buffer, end = true): ProcessingRequestMessage => wireRequest({ response_body: { body: Buffer.from(body), end_of_stream: end } });

/** Feeds one message and returns the decoded responses; the answer must be synchronous. */
export function send(s: ProcessStream, msg: ProcessingRequestMessage): Decoded[] {
  const r = s.onMessage(msg);
  if (r instanceof Promise) throw new Error('the stream answered asynchronously; use sendAsync');
  return r.responses.map(wireResponse);
}

/** Feeds one message and returns the decoded responses, waiting if the answer is a promise. */
export async function sendAsync(s: ProcessStream, msg: ProcessingRequestMessage): Promise<Decoded[]> {
  return (await s.onMessage(msg)).responses.map(wireResponse);
}

/** The single response's oneof case. */
export function kindOf(r: Decoded): string {
  return String(r['response']);
}

/** Set headers of a HeaderMutation as name → raw_value text. */
export function setHeaders(hm: Decoded | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of hm?.['set_headers'] ?? []) out[h.header.key] = Buffer.from(h.header.raw_value ?? []).toString('latin1');
  return out;
}
