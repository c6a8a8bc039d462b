import * as grpc from '@grpc/grpc-js';
import { envoyServices } from '../../../src/envoy/protos.js';
import { EnvoyHeaderMap, headerNameIsValid, MutationRulesChecker } from './header-map.js';
import type { CheckOperation } from './header-map.js';
import { durationMs, enumNumber } from './proto-json.js';
import type { Json, JsonObject } from './proto-json.js';

/**
 * Envoy's ext_proc HTTP filter (`source/extensions/filters/http/ext_proc/ext_proc.cc`,
 * `processor_state.cc`, `mutation_utils.cc`), played by the harness: one bidi stream per
 * request, the processing mode from the filter config (and per-route overrides), exactly one
 * answer of the matching kind expected per message, header mutations read from `raw_value`
 * only and checked against the mutation rules, ImmediateResponse, message timeouts, the
 * server closing the stream, failure_mode_allow. See ENVOY.md for the facts relied on.
 *
 * Simplification: the harness holds the whole request (and response) before playing the
 * stream; chunks keep the boundaries they arrived with, so STREAMED mode still sees one
 * message per chunk. Trailers are not played (HTTP/1.1 peers in the tests send none).
 */

export const EXT_PROC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
export const EXT_PROC_PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute';

/** ext_proc.proto: message_timeout "Default is 200 milliseconds". */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 200;
/** Envoy's default buffer limit when the listener sets none (per_connection_buffer_limit_bytes: 1 MiB). */
export const DEFAULT_BUFFER_LIMIT = 1024 * 1024;

export type HeaderMode = 'SEND' | 'SKIP';
export type BodyMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL';

export interface Mode {
  request_header_mode: HeaderMode;
  response_header_mode: HeaderMode;
  request_body_mode: BodyMode;
  response_body_mode: BodyMode;
  request_trailer_mode: HeaderMode;
  response_trailer_mode: HeaderMode;
}

export interface ExtProcSettings {
  readonly filterName: string;
  readonly initialMetadata: readonly (readonly [string, string])[];
  readonly failureModeAllow: boolean;
  readonly mode: Mode;
  readonly messageTimeoutMs: number;
  readonly allowModeOverride: boolean;
  readonly mutationRules: JsonObject;
  /** The listener's per_connection_buffer_limit_bytes: the most a BUFFERED body may hold. */
  readonly bufferLimit: number;
  /** Fields present in the config that the harness does not play. */
  readonly notEmulated: readonly string[];
  readonly raw: JsonObject;
}

const NOT_EMULATED = ['request_attributes', 'response_attributes', 'observability_mode', 'disable_immediate_response', 'metadata_options', 'forward_rules', 'filter_metadata', 'max_message_timeout', 'deferred_close_timeout', 'disable_clear_route_cache', 'route_cache_action'];

function obj(v: Json | undefined): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}

/** ProcessingMode with processing_mode.proto defaults: DEFAULT header modes mean SEND for headers, SKIP for trailers. */
export function modeFrom(m: JsonObject | undefined): Mode {
  const header = (v: Json | undefined, dflt: HeaderMode): HeaderMode => (v === 'SEND' || v === 1 ? 'SEND' : v === 'SKIP' || v === 2 ? 'SKIP' : dflt);
  const body = (v: Json | undefined): BodyMode => (v === 'STREAMED' || v === 1 ? 'STREAMED' : v === 'BUFFERED' || v === 2 ? 'BUFFERED' : v === 'BUFFERED_PARTIAL' || v === 3 ? 'BUFFERED_PARTIAL' : 'NONE');
  return {
    request_header_mode: header(m?.['request_header_mode'], 'SEND'),
    response_header_mode: header(m?.['response_header_mode'], 'SEND'),
    request_body_mode: body(m?.['request_body_mode']),
    response_body_mode: body(m?.['response_body_mode']),
    request_trailer_mode: header(m?.['request_trailer_mode'], 'SKIP'),
    response_trailer_mode: header(m?.['response_trailer_mode'], 'SKIP'),
  };
}

export function extProcSettings(filter: JsonObject, bufferLimit: number | undefined): ExtProcSettings {
  const cfg = obj(filter['typed_config']) ?? {};
  const grpcService = obj(cfg['grpc_service']);
  const timeout = typeof cfg['message_timeout'] === 'string' ? durationMs(cfg['message_timeout']) : DEFAULT_MESSAGE_TIMEOUT_MS;
  const md = Array.isArray(grpcService?.['initial_metadata']) ? grpcService['initial_metadata'] : [];
  return {
    filterName: typeof filter['name'] === 'string' ? filter['name'] : 'envoy.filters.http.ext_proc',
    initialMetadata: md.map((h) => [String(obj(h)?.['key'] ?? ''), String(obj(h)?.['value'] ?? '')] as const),
    failureModeAllow: cfg['failure_mode_allow'] === true,
    mode: modeFrom(obj(cfg['processing_mode'])),
    messageTimeoutMs: timeout,
    allowModeOverride: cfg['allow_mode_override'] === true,
    mutationRules: obj(cfg['mutation_rules']) ?? {},
    bufferLimit: bufferLimit ?? DEFAULT_BUFFER_LIMIT,
    notEmulated: NOT_EMULATED.filter((k) => cfg[k] !== undefined).map((k) => `ext_proc.${k}`),
    raw: cfg,
  };
}

/** ExtProcPerRoute at one level: `disabled`, or `overrides.processing_mode`. */
export interface ExtProcPerRoute {
  readonly disabled: boolean;
  readonly mode: JsonObject | undefined;
}

export function extProcPerRoute(v: JsonObject | undefined): ExtProcPerRoute | undefined {
  if (v === undefined) return undefined;
  return { disabled: v['disabled'] === true, mode: obj(obj(v['overrides'])?.['processing_mode']) };
}

/** A reply Envoy generates itself (sendLocalReply), with the details it logs. */
export interface LocalReplySpec {
  readonly status: number;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
  readonly details: string;
}

export type PhaseResult = { readonly kind: 'continue'; readonly body: Buffer } | { readonly kind: 'local'; readonly reply: LocalReplySpec };

/** What the harness records of one ext_proc stream, for assertions. */
export interface ExtProcRecord {
  /** Every ProcessingRequest sent, decoded as the server sees it. */
  readonly sent: Record<string, unknown>[];
  /** Every ProcessingResponse received, decoded. */
  readonly received: Record<string, unknown>[];
  /** How the stream ended for the filter. */
  outcome?: 'completed' | 'closed_ok' | 'grpc_error' | 'message_timeout' | 'spurious' | 'immediate' | 'failure_mode_allow';
  /** Header mutations Envoy refused (ignored) under the mutation rules. */
  rejectedMutations: number;
  /** The mode after any mode_override. */
  mode?: Mode;
}

type Incoming = { kind: 'message'; message: Record<string, unknown> } | { kind: 'closed_ok' } | { kind: 'error'; code: number; details: string } | { kind: 'timeout' };

/** The client side of one Process stream, with a queue so that answers are read in order. */
class ProcessCall {
  private readonly queue: Incoming[] = [];
  private waiter: ((i: Incoming) => void) | undefined;
  private ended: Incoming | undefined;
  readonly call: grpc.ClientDuplexStream<Record<string, unknown>, Record<string, unknown>>;

  constructor(client: grpc.Client, metadata: grpc.Metadata) {
    const method = envoyServices().externalProcessor['Process'];
    if (method === undefined) throw new Error('ExternalProcessor has no Process method');
    this.call = client.makeBidiStreamRequest(
      method.path,
      (arg: Record<string, unknown>) => method.requestSerialize(arg),
      (buf: Buffer) => method.responseDeserialize(buf) as Record<string, unknown>,
      metadata,
    );
    this.call.on('data', (m: Record<string, unknown>) => this.push({ kind: 'message', message: m }));
    this.call.on('status', (s: grpc.StatusObject) => this.finish(s.code === grpc.status.OK ? { kind: 'closed_ok' } : { kind: 'error', code: s.code, details: s.details }));
    this.call.on('error', () => undefined); // the status event carries it
  }

  private push(i: Incoming): void {
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w(i);
    } else this.queue.push(i);
  }

  private finish(i: Incoming): void {
    if (this.ended !== undefined) return;
    this.ended = i;
    this.push(i);
  }

  send(msg: Record<string, unknown>): void {
    if (this.ended === undefined) this.call.write(msg);
  }

  next(timeoutMs: number): Promise<Incoming> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended !== undefined) return Promise.resolve(this.ended);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.waiter = (i) => {
        clearTimeout(t);
        resolve(i);
      };
    });
  }

  /** Envoy half-closes when the request is done, then resets the stream. */
  close(): void {
    if (this.ended === undefined) this.call.end();
    this.call.cancel();
  }
}

const toHeaderMap = (h: EnvoyHeaderMap): Record<string, unknown> => ({
  headers: h.list().map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })),
});

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bytes(v: unknown): Buffer {
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.alloc(0);
}

/** One request's ext_proc filter: the decode (request) and encode (response) phases. */
export class ExtProcFilter {
  readonly record: ExtProcRecord = { sent: [], received: [], rejectedMutations: 0 };
  private mode: Mode;
  private readonly call: ProcessCall;
  private readonly checker: MutationRulesChecker;
  /** After the server closed with OK, or failure_mode_allow took over: Envoy stops processing. */
  private abandoned = false;

  constructor(
    private readonly s: ExtProcSettings,
    client: grpc.Client,
    routeMode: JsonObject | undefined,
  ) {
    this.mode = routeMode !== undefined ? modeFrom(routeMode) : s.mode;
    this.record.mode = this.mode;
    this.checker = new MutationRulesChecker(s.mutationRules);
    const md = new grpc.Metadata();
    for (const [k, v] of s.initialMetadata) md.add(k, v);
    this.call = new ProcessCall(client, md);
  }

  close(): void {
    this.record.outcome ??= 'completed';
    this.call.close();
  }

  /** decodeHeaders/decodeData: the request headers and body, in the configured mode. */
  async request(headers: EnvoyHeaderMap, chunks: readonly Buffer[], endStream: boolean): Promise<PhaseResult> {
    return this.direction('request', headers, chunks, endStream);
  }

  /** encodeHeaders/encodeData: the response (`:status` among the headers). */
  async response(headers: EnvoyHeaderMap, chunks: readonly Buffer[], endStream: boolean): Promise<PhaseResult> {
    return this.direction('response', headers, chunks, endStream);
  }

  private async direction(dir: 'request' | 'response', headers: EnvoyHeaderMap, chunks: readonly Buffer[], endStream: boolean): Promise<PhaseResult> {
    let body: Buffer = Buffer.concat(chunks);
    const headerMode = dir === 'request' ? this.mode.request_header_mode : this.mode.response_header_mode;
    if (headerMode === 'SEND' && !this.abandoned) {
      const r = await this.exchange(`${dir}_headers`, { [`${dir}_headers`]: { headers: toHeaderMap(headers), end_of_stream: endStream } });
      if (r.kind === 'local') return r;
      if (r.kind === 'ok') {
        const common = isObj(r.body['response']) ? r.body['response'] : {};
        const failed = this.applyHeaderMutation(headers, common['header_mutation']);
        if (failed !== undefined) return failed;
        if (common['status'] === 'CONTINUE_AND_REPLACE') {
          // Apply the header mutation, replace the body, stop sending this direction.
          const bm = common['body_mutation'];
          if (isObj(bm)) body = bm['clear_body'] === true ? Buffer.alloc(0) : bytes(bm['body']);
          return { kind: 'continue', body };
        }
      }
    }
    if (endStream || this.abandoned) return { kind: 'continue', body };
    const bodyMode = dir === 'request' ? this.mode.request_body_mode : this.mode.response_body_mode;
    if (bodyMode === 'NONE') return { kind: 'continue', body };
    const tooLarge = (): PhaseResult =>
      // Request: the decoder buffer overflows → 413; response: the encoder buffer → 500.
      dir === 'request' ? local(413, 'Payload Too Large', 'request_payload_too_large') : local(500, 'Internal Server Error', 'response_payload_too_large');

    if (bodyMode === 'BUFFERED' || (bodyMode === 'BUFFERED_PARTIAL' && body.length <= this.s.bufferLimit)) {
      if (body.length > this.s.bufferLimit) return tooLarge();
      const r = await this.exchange(`${dir}_body`, { [`${dir}_body`]: { body, end_of_stream: true } });
      if (r.kind === 'local') return r;
      if (r.kind !== 'ok') return { kind: 'continue', body };
      const common = isObj(r.body['response']) ? r.body['response'] : {};
      // The headers are still held: header mutations in a buffered body response apply.
      const failed = this.applyHeaderMutation(headers, common['header_mutation']);
      if (failed !== undefined) return failed;
      const next = mutateBody(body, common['body_mutation']);
      const cl = headers.first('content-length');
      if (next !== body && cl !== undefined && Number(cl) !== next.length) {
        // The body changed length under a content-length nobody fixed: Envoy answers 500.
        this.record.outcome = 'spurious';
        return local(500, '', 'ext_proc_content_length_mismatch');
      }
      return { kind: 'continue', body: next };
    }
    if (bodyMode === 'BUFFERED_PARTIAL') {
      const head = body.subarray(0, this.s.bufferLimit);
      const r = await this.exchange(`${dir}_body`, { [`${dir}_body`]: { body: head, end_of_stream: false } });
      if (r.kind === 'local') return r;
      if (r.kind !== 'ok') return { kind: 'continue', body };
      const common = isObj(r.body['response']) ? r.body['response'] : {};
      return { kind: 'continue', body: Buffer.concat([mutateBody(head, common['body_mutation']), body.subarray(this.s.bufferLimit)]) };
    }
    // STREAMED: one message per chunk; header mutations in body responses are ignored.
    const out: Buffer[] = [];
    const parts = chunks.length > 0 ? chunks : [Buffer.alloc(0)];
    for (let i = 0; i < parts.length; i++) {
      const chunk = parts[i] as Buffer;
      if (this.abandoned) {
        out.push(chunk);
        continue;
      }
      const r = await this.exchange(`${dir}_body`, { [`${dir}_body`]: { body: chunk, end_of_stream: i === parts.length - 1 } });
      if (r.kind === 'local') return r;
      if (r.kind !== 'ok') {
        out.push(chunk);
        continue;
      }
      const common = isObj(r.body['response']) ? r.body['response'] : {};
      out.push(mutateBody(chunk, common['body_mutation']));
    }
    const next = Buffer.concat(out);
    const cl = headers.first('content-length');
    if (cl !== undefined && Number(cl) !== next.length) {
      // The headers went out first with this length: a real upstream/client would see a broken message.
      throw new Error(`ext_proc STREAMED ${dir}: ${next.length} body bytes under content-length ${cl}; the server must remove content-length before changing a streamed body`);
    }
    return { kind: 'continue', body: next };
  }

  /** Sends one message and waits for its answer, handling every way the stream can go. */
  private async exchange(expected: string, msg: Record<string, unknown>): Promise<{ kind: 'ok'; body: Record<string, unknown> } | { kind: 'skip' } | { kind: 'local'; reply: LocalReplySpec }> {
    const method = envoyServices().externalProcessor['Process'];
    this.record.sent.push(method!.requestDeserialize(method!.requestSerialize(msg)) as Record<string, unknown>);
    this.call.send(msg);
    const got = await this.call.next(this.s.messageTimeoutMs);
    if (got.kind === 'closed_ok') {
      // "The server closing the stream with OK → Envoy continues without processing."
      this.record.outcome = 'closed_ok';
      this.abandoned = true;
      return { kind: 'skip' };
    }
    if (got.kind === 'timeout' || got.kind === 'error') {
      this.record.outcome = got.kind === 'timeout' ? 'message_timeout' : 'grpc_error';
      if (this.s.failureModeAllow) {
        this.record.outcome = 'failure_mode_allow';
        this.abandoned = true;
        return { kind: 'skip' };
      }
      // message_timeout → 504; a failed stream → status_on_error (500).
      return got.kind === 'timeout' ? local(504, 'Gateway Timeout', 'ext_proc_message_timeout') : local(500, '', `ext_proc_error_gRPC_error_${got.code}`);
    }
    const m = got.message;
    this.record.received.push(m);
    const kind = typeof m['response'] === 'string' ? m['response'] : undefined;
    if (kind === 'immediate_response' && isObj(m['immediate_response'])) {
      this.record.outcome = 'immediate';
      return { kind: 'local', reply: this.immediate(m['immediate_response']) };
    }
    if (isObj(m['mode_override']) && this.s.allowModeOverride && expected.endsWith('_headers')) {
      // Honoured only with allow_mode_override, only in a headers response; it replaces the mode.
      this.mode = modeFrom(m['mode_override'] as JsonObject);
      this.record.mode = this.mode;
    }
    if (kind !== expected) {
      // A response of the wrong kind is spurious: 500 unless failure_mode_allow.
      this.record.outcome = 'spurious';
      if (this.s.failureModeAllow) {
        this.abandoned = true;
        return { kind: 'skip' };
      }
      return local(500, '', 'ext_proc_spurious_message');
    }
    return { kind: 'ok', body: isObj(m[kind]) ? (m[kind] as Record<string, unknown>) : {} };
  }

  /** ImmediateResponse: status below 200 (or none) becomes 200; header mutation; body; details. */
  private immediate(ir: Record<string, unknown>): LocalReplySpec {
    const st = isObj(ir['status']) ? ir['status']['code'] : undefined;
    const n = st === undefined ? 0 : (enumNumber('envoy.type.v3.StatusCode', st as string | number) ?? 0);
    const h = new EnvoyHeaderMap();
    this.applyHeaderMutation(h, ir['headers']);
    return { status: n < 200 ? 200 : n, headers: h.list(), body: bytes(ir['body']), details: typeof ir['details'] === 'string' ? ir['details'] : '' };
  }

  /** mutation_utils.cc applyHeaderMutations: raw_value only; append true adds, else sets; rules checked. */
  private applyHeaderMutation(headers: EnvoyHeaderMap, hm: unknown): { kind: 'local'; reply: LocalReplySpec } | undefined {
    if (!isObj(hm)) return undefined;
    const check = (op: CheckOperation, key: string, value: string): boolean | 'fail' => {
      if (!headerNameIsValid(key)) return false;
      const c = this.checker.check(op, key, value);
      if (c === 'FAIL') return 'fail';
      if (c === 'IGNORE') this.record.rejectedMutations++;
      return c === 'OK';
    };
    for (const k of Array.isArray(hm['remove_headers']) ? hm['remove_headers'] : []) {
      const key = String(k).toLowerCase();
      const ok = check('REMOVE', key, '');
      if (ok === 'fail') return local(500, '', 'ext_proc_header_mutation_rejected');
      if (ok) headers.remove(key);
    }
    for (const o of Array.isArray(hm['set_headers']) ? hm['set_headers'] : []) {
      const h = isObj(o) && isObj(o['header']) ? o['header'] : {};
      const key = String(h['key'] ?? '').toLowerCase();
      // Only raw_value is read: a mutation that sets only `value` does nothing.
      const value = bytes(h['raw_value']).toString('latin1');
      if (value === '' && typeof h['value'] === 'string' && h['value'] !== '') continue;
      const append = isObj(o) && isObj(o['append']) && o['append']['value'] === true;
      const ok = check(append ? 'APPEND' : 'SET', key, value);
      if (ok === 'fail') return local(500, '', 'ext_proc_header_mutation_rejected');
      if (!ok) continue;
      if (append) headers.add(key, value);
      else headers.set(key, value);
    }
    return undefined;
  }
}

function mutateBody(body: Buffer, bm: unknown): Buffer {
  if (!isObj(bm)) return body;
  if (bm['clear_body'] === true) return Buffer.alloc(0);
  if (bm['body'] !== undefined) return bytes(bm['body']);
  return body;
}

function local(status: number, body: string, details: string): { kind: 'local'; reply: LocalReplySpec } {
  return { kind: 'local', reply: { status, headers: [], body: Buffer.from(body), details } };
}
