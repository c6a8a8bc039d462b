import { headerMutation, headersFromMap, type HeaderChanges } from './headers.js';
import {
  REQUEST_KINDS,
  SHIPPED_MODE,
  type BodySendMode,
  type HttpBodyMessage,
  type HttpHeadersMessage,
  type ProcessingMode,
  type ProcessingRequestMessage,
  type ProcessingResponseMessage,
  type RequestKind,
} from './messages.js';

/**
 * One ext_proc stream (one HTTP request), independent of the transport: feed it each decoded
 * `ProcessingRequest`, send the `ProcessingResponse`s it returns, in order, then call
 * `close()` when the stream ends or is cancelled. Envoy's side of the protocol (ENVOY.md,
 * ext_proc.cc, processor_state.cc):
 * - every message gets exactly one response of the matching kind, unless the stream has
 *   answered with an ImmediateResponse (after which Envoy closes it and we stay silent);
 * - per direction the order is headers → body → trailers; anything else is a protocol
 *   error, answered with an ImmediateResponse 500 (fail closed whatever failure_mode_allow);
 * - BUFFERED (and BUFFERED_PARTIAL) bodies arrive as one message and are decided at once;
 *   STREAMED bodies are held (each chunk answered with `clear_body`) and released, decided,
 *   with the last chunk, or, for `text/event-stream`, decided and released event by event;
 * - held bytes are bounded by `maxBodyBytes`: over it the call is refused with a 413.
 *
 * A body verdict is synchronous unless the inspector has to ask the state store (a denial
 * looking for a one-shot pass). The answer to that message is then a promise, and messages
 * arriving meanwhile wait (at most MAX_BACKLOG, bytes within `maxBodyBytes`; one more fails
 * the stream closed) and are answered, in order, after it: `onMessage` returns promises,
 * settling in message order, until the backlog is drained. `close()` during the wait drops
 * what was held; the waiting messages then get no responses.
 */

export type Direction = 'request' | 'response';

export interface Exchange {
  /** Request headers (lower-case names, pseudo-headers included); empty when Envoy skips them. */
  readonly request: Readonly<Record<string, string>>;
  /** Response headers; undefined until they arrive. */
  readonly response: Readonly<Record<string, string>> | undefined;
}

/** What to do with a whole body (or, with `complete` false, a BUFFERED_PARTIAL prefix). */
export type BodyVerdict =
  | { readonly kind: 'continue'; readonly headers?: HeaderChanges }
  | { readonly kind: 'replace'; readonly body: Buffer; readonly headers?: HeaderChanges }
  | { readonly kind: 'deny'; readonly reply: LocalReply };

/** What to do with one server-sent event (its text up to and including the blank line). */
export type EventVerdict = { readonly kind: 'keep' } | { readonly kind: 'replace'; readonly text: string } | { readonly kind: 'stop'; readonly text: string };

export interface LocalReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** StreamInfo response code details Envoy logs. */
  readonly details: string;
}

/** The policy side of a stream: one instance per stream, so it may keep what the request said. */
export interface BodyInspector {
  /** Synchronous, or a promise (which should not reject; a rejection fails the stream closed). */
  body(direction: Direction, exchange: Exchange, body: Buffer, complete: boolean): BodyVerdict | Promise<BodyVerdict>;
  event(direction: Direction, exchange: Exchange, event: string): EventVerdict;
}

export interface ProcessStreamOptions {
  readonly inspector: BodyInspector;
  /** The filter's `processing_mode` as configured in Envoy (default: what envoy/*.yaml ship). */
  readonly mode?: ProcessingMode;
  /** The filter's `allow_mode_override`: lets us switch `text/event-stream` responses to STREAMED. */
  readonly allowModeOverride?: boolean;
  /** Most body bytes held per direction (default 4 MiB, the shipped per-connection buffer limit). */
  readonly maxBodyBytes?: number;
  /** Most bytes of one server-sent event (default 1 MiB). */
  readonly maxEventBytes?: number;
  /** Told when the stream is refused for a protocol or internal failure (the reply's details). */
  readonly onFailure?: (details: string) => void;
  /**
   * Headers only the gateway may set (lower case): removed from requests and answers as they
   * arrive, so neither the agent nor an upstream can pass off its own (e.g. x-joch-findings).
   */
  readonly ownedHeaders?: readonly string[];
}

export interface ProcessResult {
  readonly responses: ProcessingResponseMessage[];
}

const SILENT: ProcessResult = { responses: [] };

/** Most messages held while a verdict is pending (Envoy waits for a buffered body's answer). */
export const MAX_BACKLOG = 8;

/** A message that arrived while a verdict was pending, and how to hand over its answer. */
interface Waiting {
  /** Dropped (undefined) once the stream is closed. */
  readonly msg: ProcessingRequestMessage | undefined;
  readonly bytes: number;
  readonly answer: (r: ProcessResult | Promise<ProcessResult>) => void;
  /** Its answer, already decided (the refusal of a message over the backlog's bounds). */
  readonly ready?: ProcessResult;
}

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;

class DirectionState {
  headersSeen = false;
  /** end_of_stream seen (on headers or body): no more body may come. */
  ended = false;
  trailersSeen = false;
  /** A body message was answered (BUFFERED modes allow exactly one). */
  bodySeen = false;
  headers: Record<string, string> = {};
  held: Buffer[] = [];
  heldBytes = 0;
  /** Streamed event bytes not yet ending in a blank line. */
  tail: Buffer = Buffer.alloc(0);
  /** After an event verdict `stop`: every later chunk is cleared. */
  stopped = false;
  /** Whether this direction's body is inspected event by event. */
  events = false;

  release(): void {
    this.held = [];
    this.heldBytes = 0;
    this.tail = Buffer.alloc(0);
  }
}

export class ProcessStream {
  private mode: ProcessingMode;
  private readonly req = new DirectionState();
  private readonly res = new DirectionState();
  private readonly maxBody: number;
  private readonly maxEvent: number;
  private finished = false;
  /** A body verdict is pending: later messages wait in `backlog`. */
  private busy = false;
  private backlog: Waiting[] = [];
  private backlogBytes = 0;
  /** In drain(): a message it handles may close the stream, which must not drain out of turn. */
  private draining = false;
  /** The answer of every message that arrives closed while a verdict is still pending. */
  private silentTurn: Promise<ProcessResult> | undefined;
  /** The body a pending verdict is about (here, not in the continuation, so close() can drop it). */
  private parked: Buffer | undefined;

  constructor(private readonly opts: ProcessStreamOptions) {
    this.mode = opts.mode ?? SHIPPED_MODE;
    this.maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.maxEvent = opts.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  }

  /** True once the stream answered with an ImmediateResponse or was closed: later messages get nothing. */
  get done(): boolean {
    return this.finished;
  }

  /** Envoy half-closed, cancelled, or the transport failed: drop everything held. Idempotent. */
  close(): void {
    this.finished = true;
    this.req.release();
    this.res.release();
    this.parked = undefined;
    this.backlogBytes = 0;
    // Waiting answers still settle after the pending one (in order), but hold no message.
    this.backlog = this.backlog.map(({ answer, ready }) => ({ msg: undefined, bytes: 0, answer, ...(ready !== undefined ? { ready } : {}) }));
    if (!this.busy && !this.draining) this.drain();
  }

  /**
   * The answer to one message: synchronous, or a promise when a verdict waits for the store
   * (or the message waits behind one). Promises resolve in the order of their messages and
   * never reject.
   */
  onMessage(msg: ProcessingRequestMessage | undefined): ProcessResult | Promise<ProcessResult> {
    if (this.busy) return this.wait(msg);
    if (this.finished) return SILENT;
    return this.handle(msg);
  }

  private handle(msg: ProcessingRequestMessage | undefined): ProcessResult | Promise<ProcessResult> {
    let r: ProcessResult | Promise<ProcessResult>;
    try {
      r = this.dispatch(msg);
    } catch {
      return this.internalError();
    }
    if (!(r instanceof Promise)) return r;
    this.busy = true;
    const answered = r.catch(() => (this.finished ? SILENT : this.internalError()));
    // Registered before the caller's own `then`, so the next message is handled first but its
    // answer (a later promise) still settles after this one.
    void answered.then(() => {
      this.busy = false;
      this.drain();
    });
    return answered;
  }

  private wait(msg: ProcessingRequestMessage | undefined): Promise<ProcessResult> {
    if (this.finished) {
      // Nothing more to answer, but not before what waits ahead: one shared, empty answer.
      this.silentTurn ??= new Promise((answer) => this.backlog.push({ msg: undefined, bytes: 0, answer, ready: SILENT }));
      return this.silentTurn;
    }
    const bytes = bodyBytes(msg);
    if (this.backlog.length >= MAX_BACKLOG || this.backlogBytes + bytes > this.maxBody) {
      // Refused now (the stream is closed: what waits gets nothing), answered in its turn.
      const ready = this.fail('joch_ext_proc_backlog', `more than ${MAX_BACKLOG} messages or ${this.maxBody} body bytes arrived while a decision was pending`);
      return new Promise((answer) => this.backlog.push({ msg: undefined, bytes: 0, answer, ready }));
    }
    this.backlogBytes += bytes;
    return new Promise((answer) => this.backlog.push({ msg, bytes, answer }));
  }

  /** Handles waiting messages in order until one of them pends again. */
  private drain(): void {
    this.draining = true;
    try {
      while (!this.busy) {
        const w = this.backlog.shift();
        if (w === undefined) return;
        this.backlogBytes -= w.bytes;
        w.answer(w.ready ?? (this.finished ? SILENT : this.handle(w.msg)));
      }
    } finally {
      this.draining = false;
    }
  }

  private internalError(): ProcessResult {
    return this.fail('joch_ext_proc_internal_error', 'the gateway failed while processing this message; refused (fail closed)');
  }

  private dispatch(msg: ProcessingRequestMessage | undefined): ProcessResult | Promise<ProcessResult> {
    const kind = kindOf(msg);
    if (kind === undefined || msg === undefined) return this.fail('joch_ext_proc_malformed', 'a ProcessingRequest carried none of the six message kinds');
    switch (kind) {
      case 'request_headers':
        return this.onHeaders('request', this.req, msg.request_headers as HttpHeadersMessage);
      case 'response_headers':
        return this.onHeaders('response', this.res, msg.response_headers as HttpHeadersMessage);
      case 'request_body':
        return this.onBody('request', this.req, msg.request_body as HttpBodyMessage);
      case 'response_body':
        return this.onBody('response', this.res, msg.response_body as HttpBodyMessage);
      case 'request_trailers':
        return this.onTrailers('request', this.req);
      case 'response_trailers':
        return this.onTrailers('response', this.res);
    }
  }

  private onHeaders(dir: Direction, st: DirectionState, m: HttpHeadersMessage): ProcessResult {
    if (st.headersSeen || st.held.length > 0 || st.trailersSeen || (dir === 'request' && this.res.headersSeen)) {
      return this.fail('joch_ext_proc_out_of_order', `${dir} headers arrived out of order`);
    }
    st.headersSeen = true;
    st.headers = headersFromMap(m.headers);
    st.ended = m.end_of_stream === true;
    const response: Record<string, unknown> = { status: 'CONTINUE' };
    const remove = (this.opts.ownedHeaders ?? []).filter((h) => st.headers[h] !== undefined);
    let override: ProcessingMode | undefined;
    if (!st.ended) {
      const sse = isEventStream(st.headers['content-type']);
      let mode = this.bodyMode(dir);
      if (dir === 'response' && sse && this.opts.allowModeOverride === true && (mode === 'BUFFERED' || mode === 'BUFFERED_PARTIAL')) {
        // Buffering an event stream would hold every event until the stream ends.
        override = { ...this.mode, response_body_mode: 'STREAMED' };
        mode = 'STREAMED';
      }
      st.events = sse && mode === 'STREAMED';
      // A streamed body we may change cannot keep a length announced up front.
      if (mode === 'STREAMED' && st.headers['content-length'] !== undefined) remove.push('content-length');
    }
    if (remove.length > 0) response.header_mutation = headerMutation({ remove });
    if (override !== undefined) this.mode = override;
    const out: ProcessingResponseMessage = { [`${dir}_headers`]: { response } };
    if (override !== undefined) out.mode_override = override;
    return { responses: [out] };
  }

  private onBody(dir: Direction, st: DirectionState, m: HttpBodyMessage): ProcessResult | Promise<ProcessResult> {
    const headerMode = dir === 'request' ? this.mode.request_header_mode : this.mode.response_header_mode;
    if (st.ended || st.trailersSeen || (!st.headersSeen && headerMode !== 'SKIP')) {
      return this.fail('joch_ext_proc_out_of_order', `a ${dir} body chunk arrived ${st.ended ? 'after the end of the body' : 'before the headers'}`);
    }
    const chunk = m.body === undefined ? Buffer.alloc(0) : Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength);
    const end = m.end_of_stream === true;
    st.ended = end;
    const mode = this.bodyMode(dir);
    if (st.events) return this.onEventChunk(dir, st, chunk, end);
    if (mode === 'BUFFERED' || mode === 'BUFFERED_PARTIAL') {
      // One message holds the whole body (BUFFERED) or the part up to the buffer limit; a
      // second one means Envoy streams while we think it buffers: fail closed, never decide on pieces.
      if (st.bodySeen) return this.fail('joch_ext_proc_mode_mismatch', `a second ${dir} body message arrived in ${mode} mode; the gateway's processing mode must match Envoy's`);
      st.bodySeen = true;
      const whole = st.held.length === 0 ? chunk : Buffer.concat([...st.held, chunk]);
      st.release();
      if (whole.length > this.maxBody) return this.tooLarge(dir);
      return this.verdict(dir, st, whole, mode === 'BUFFERED' || end, true);
    }
    // STREAMED (and NONE, should Envoy send a body anyway): hold until the last chunk.
    if (st.heldBytes + chunk.length > this.maxBody) return this.tooLarge(dir);
    st.held.push(chunk);
    st.heldBytes += chunk.length;
    if (!end) return { responses: [bodyResponse(dir, { status: 'CONTINUE', body_mutation: { clear_body: true } })] };
    const whole = Buffer.concat(st.held);
    st.release();
    return this.verdict(dir, st, whole, true, false);
  }

  /** Decides a whole body and shapes the body response; `buffered`: headers are still held, so header changes apply. */
  private verdict(dir: Direction, st: DirectionState, body: Buffer, complete: boolean, buffered: boolean): ProcessResult | Promise<ProcessResult> {
    const v = this.opts.inspector.body(dir, this.exchange(), body, complete);
    if (!(v instanceof Promise)) return this.shape(dir, st, body, buffered, v);
    this.parked = body;
    return v.then((later) => {
      const held = this.parked;
      this.parked = undefined;
      return this.finished || held === undefined ? SILENT : this.shape(dir, st, held, buffered, later);
    });
  }

  private shape(dir: Direction, st: DirectionState, body: Buffer, buffered: boolean, v: BodyVerdict): ProcessResult {
    if (v.kind === 'deny') return this.immediate(v.reply);
    const common: Record<string, unknown> = { status: 'CONTINUE' };
    const set: Record<string, string> = { ...v.headers?.set };
    const remove = [...(v.headers?.remove ?? [])];
    if (v.kind === 'replace') {
      common.body_mutation = { body: v.body };
      // Envoy answers 500 when a buffered body changes length under a stale content-length.
      if (st.headers['content-length'] !== undefined) set['content-length'] = String(v.body.length);
    } else if (!buffered) {
      common.body_mutation = { body }; // release what the earlier chunks cleared
    }
    if (buffered) {
      const hm = headerMutation({ set, remove });
      if (hm !== undefined) common.header_mutation = hm;
    }
    return { responses: [bodyResponse(dir, common)] };
  }

  private onEventChunk(dir: Direction, st: DirectionState, chunk: Buffer, end: boolean): ProcessResult {
    if (st.stopped) return { responses: [bodyResponse(dir, { status: 'CONTINUE', body_mutation: { clear_body: true } })] };
    const data = st.tail.length === 0 ? chunk : Buffer.concat([st.tail, chunk]);
    const exchange = this.exchange();
    let out = '';
    let changed = false;
    let start = 0;
    for (;;) {
      const stop = eventEnd(data, start);
      if (stop === -1) break;
      const text = data.toString('utf8', start, stop);
      start = stop;
      const v = this.opts.inspector.event(dir, exchange, text);
      if (v.kind === 'keep') out += text;
      else {
        changed = true;
        out += v.text;
        if (v.kind === 'stop') {
          st.stopped = true;
          start = data.length;
          break;
        }
      }
    }
    let rest = data.subarray(start);
    if (end && rest.length > 0 && !st.stopped) {
      // The stream ended without a blank line: the last event is still one event.
      const text = rest.toString('utf8');
      const v = this.opts.inspector.event(dir, exchange, text);
      out += v.kind === 'keep' ? text : v.text;
      changed ||= v.kind !== 'keep';
      rest = Buffer.alloc(0);
    }
    if (rest.length > this.maxEvent) {
      st.stopped = true;
      st.release();
      return { responses: [bodyResponse(dir, { status: 'CONTINUE', body_mutation: { body: Buffer.from(out, 'utf8') } })] };
    }
    const held = st.tail.length > 0 || rest.length > 0;
    st.tail = Buffer.from(rest); // a copy: the chunk's buffer is the transport's
    // Fast path: every event passed, none was cut: the chunk goes on as it came.
    if (!changed && !held) return { responses: [bodyResponse(dir, { status: 'CONTINUE' })] };
    return { responses: [bodyResponse(dir, { status: 'CONTINUE', body_mutation: out === '' ? { clear_body: true } : { body: Buffer.from(out, 'utf8') } })] };
  }

  private onTrailers(dir: Direction, st: DirectionState): ProcessResult {
    if (st.trailersSeen) return this.fail('joch_ext_proc_out_of_order', `${dir} trailers arrived twice`);
    st.trailersSeen = true;
    st.ended = true;
    if (st.held.length > 0 || st.tail.length > 0) {
      // Held chunks can only be released in a body response, and none is coming.
      return this.fail('joch_ext_proc_trailers_after_held_body', `the ${dir} ended with trailers while a streamed body was held for inspection; use BUFFERED for this route`);
    }
    return { responses: [{ [`${dir}_trailers`]: {} }] };
  }

  private bodyMode(dir: Direction): BodySendMode {
    return dir === 'request' ? this.mode.request_body_mode : this.mode.response_body_mode;
  }

  private exchange(): Exchange {
    return { request: this.req.headers, response: this.res.headersSeen ? this.res.headers : undefined };
  }

  private tooLarge(dir: Direction): ProcessResult {
    this.opts.onFailure?.('joch_ext_proc_body_too_large');
    const body = JSON.stringify({ error: `the ${dir} body is larger than the gateway inspects (${this.maxBody} bytes)`, reason: 'body-too-large' });
    return this.immediate({ status: 413, headers: { 'content-type': 'application/json' }, body: Buffer.from(body), details: 'joch_ext_proc_body_too_large' });
  }

  private fail(details: string, message: string): ProcessResult {
    this.opts.onFailure?.(details);
    const body = JSON.stringify({ error: message, reason: 'ext-proc-protocol-error' });
    return this.immediate({ status: 500, headers: { 'content-type': 'application/json' }, body: Buffer.from(body), details });
  }

  private immediate(r: LocalReply): ProcessResult {
    this.close();
    const headers = headerMutation({ set: { ...r.headers } });
    return {
      responses: [
        {
          immediate_response: {
            // Envoy turns a status below 200 (or none) into 200; ours are always real statuses.
            status: { code: r.status },
            ...(headers !== undefined ? { headers } : {}),
            body: r.body,
            details: r.details,
          },
        },
      ],
    };
  }
}

function kindOf(msg: ProcessingRequestMessage | undefined): RequestKind | undefined {
  if (msg === undefined || msg === null || typeof msg !== 'object') return undefined;
  const named = msg.request;
  if (named !== undefined) return (REQUEST_KINDS as readonly string[]).includes(named) && typeof msg[named as RequestKind] === 'object' ? (named as RequestKind) : undefined;
  return REQUEST_KINDS.find((k) => typeof msg[k] === 'object' && msg[k] !== null);
}

function bodyBytes(msg: ProcessingRequestMessage | undefined): number {
  return (msg?.request_body?.body?.byteLength ?? 0) + (msg?.response_body?.body?.byteLength ?? 0);
}

function bodyResponse(dir: Direction, common: Record<string, unknown>): ProcessingResponseMessage {
  return { [`${dir}_body`]: { response: common } };
}

function isEventStream(contentType: string | undefined): boolean {
  return contentType !== undefined && /^\s*text\/event-stream\b/i.test(contentType);
}

/** Index just past the blank line ending the event that starts at `from`, or -1 (SSE: LF, CRLF or CR line ends). */
export function eventEnd(data: Buffer, from: number): number {
  for (let i = from; i < data.length; i++) {
    const c = data[i];
    if (c !== 0x0a && c !== 0x0d) continue;
    // i ends a line; an immediately following line end makes the blank line.
    let j = i + 1;
    if (c === 0x0d && data[j] === 0x0a) j++;
    const d = data[j];
    if (d === 0x0a) return j + 1;
    if (d === 0x0d) return data[j + 1] === 0x0a ? j + 2 : j + 1 < data.length ? j + 1 : -1;
    i = j - 1;
  }
  return -1;
}
