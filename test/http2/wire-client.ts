import { connect, type Socket } from 'node:net';
import { HpackDecoder } from '../../src/http2/hpack.js';
import {
  CLIENT_PREFACE as PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW as DEFAULT_WINDOW_SIZE,
  ErrorCode,
  Flag as Flags,
  FRAME_HEADER_BYTES,
  FrameType,
  MAX_WINDOW as MAX_WINDOW_SIZE,
  Setting,
} from '../../src/http2/frames.js';

/**
 * A raw HTTP/2 (RFC 9113) client for wire-level tests: it writes frames byte by byte and
 * parses what the server sends back, so tests can send what no real client would (bad
 * frames, floods, odd splits) and check the exact frames, error codes and stream ids the
 * server answers with, whatever implements the transport.
 *
 * Requests are HPACK-encoded as literals without indexing (so tests can write any field,
 * valid or not); responses are decoded with the transport's own decoder.
 */

// RFC registry values, from the transport's own module (hpack.test.ts checks its HPACK against
// nghttp2, an implementation of its own).
export { DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW_SIZE, ErrorCode, Flags, FrameType, MAX_WINDOW_SIZE, PREFACE, Setting };

const EMPTY = Buffer.alloc(0);
const TYPE_NAMES = new Map<number, string>(Object.entries(FrameType).map(([name, type]) => [type, name]));

export type HeaderList = [string, string][];

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
  /** HEADERS and PUSH_PROMISE: the decoded field block (its CONTINUATIONs included). */
  headers?: HeaderList;
  /** Set instead of `headers` when the block could not be decoded. */
  hpackError?: Error;
}

// ---------------------------------------------------------------------------------------------
// Frames

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = EMPTY): Buffer {
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** A payload with the PADDED layout: pad length, the payload, that many zero bytes. */
export function padded(payload: Uint8Array, padLength: number): Buffer {
  return Buffer.concat([Buffer.from([padLength]), payload, Buffer.alloc(padLength)]);
}

export function settingsFrame(settings: Record<number, number> = {}): Buffer {
  const entries = Object.entries(settings);
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(Number(id), i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flags.ACK, 0);

export function parseSettings(payload: Buffer): Map<number, number> {
  const settings = new Map<number, number>();
  for (let i = 0; i + 6 <= payload.length; i += 6) settings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
  return settings;
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStream(streamId: number, code: number): Buffer {
  return frame(FrameType.RST_STREAM, 0, streamId, errorCodePayload(code));
}

export function ping(data: Uint8Array, ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flags.ACK : 0, 0, data);
}

function errorCodePayload(code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return payload;
}

/** RST_STREAM's error code. */
export const rstCode = (f: Frame): number => f.payload.readUInt32BE(0);

export function parseGoaway(f: Frame): { lastStreamId: number; code: number; debug: string } {
  return { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString('latin1') };
}

/** WINDOW_UPDATE's increment. */
export const increment = (f: Frame): number => f.payload.readUInt32BE(0) & 0x7fffffff;

/** A DATA frame's data, padding removed. */
export function dataOf(f: Frame): Buffer {
  if ((f.flags & Flags.PADDED) === 0) return f.payload;
  return f.payload.subarray(1, f.payload.length - f.payload[0]!);
}

/** The field block fragment of HEADERS, PUSH_PROMISE or CONTINUATION (padding and priority removed). */
function fragmentOf(f: Frame): Buffer {
  if (f.type === FrameType.CONTINUATION) return f.payload;
  let start = 0;
  let end = f.payload.length;
  if (f.flags & Flags.PADDED) {
    start = 1;
    end -= f.payload[0]!;
  }
  if (f.type === FrameType.HEADERS && f.flags & Flags.PRIORITY) start += 5;
  if (f.type === FrameType.PUSH_PROMISE) start += 4;
  if (start > end) throw new Error(`${describeFrame(f)}: padding longer than the payload`);
  return f.payload.subarray(start, end);
}

/** Splits a field block into HEADERS and CONTINUATION frames of at most `maxFrame` bytes. */
export function headerFrames(streamId: number, block: Buffer, endStream: boolean, maxFrame = DEFAULT_MAX_FRAME_SIZE): Buffer {
  const frames: Buffer[] = [];
  for (let pos = 0; pos === 0 || pos < block.length; pos += maxFrame) {
    const last = pos + maxFrame >= block.length;
    const type = pos === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (last ? Flags.END_HEADERS : 0) | (pos === 0 && endStream ? Flags.END_STREAM : 0);
    frames.push(frame(type, flags, streamId, block.subarray(pos, pos + maxFrame)));
  }
  return Buffer.concat(frames);
}

export function describeFrame(f: Frame): string {
  const name = TYPE_NAMES.get(f.type) ?? `type ${f.type}`;
  let detail = '';
  if (f.type === FrameType.GOAWAY && f.payload.length >= 8) {
    const g = parseGoaway(f);
    detail = ` last=${g.lastStreamId} code=${g.code}${g.debug ? ` "${g.debug}"` : ''}`;
  } else if (f.type === FrameType.RST_STREAM && f.payload.length === 4) detail = ` code=${rstCode(f)}`;
  else if (f.type === FrameType.WINDOW_UPDATE && f.payload.length === 4) detail = ` +${increment(f)}`;
  else if (f.headers) detail = ` ${JSON.stringify(f.headers)}`;
  return `${name}[stream ${f.streamId}, flags 0x${f.flags.toString(16)}, ${f.payload.length} bytes${detail}]`;
}

// ---------------------------------------------------------------------------------------------
// HPACK

/** RFC 7541 §5.1: `value` with an N-bit prefix; `pattern` holds the representation's high bits. */
export function encodeInteger(value: number, prefixBits: number, pattern = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([pattern | value]);
  const bytes = [pattern | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A raw (non-Huffman) string literal; latin1 so test strings map to bytes one to one. */
function encodeString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([encodeInteger(bytes.length, 7), bytes]);
}

/** Literal header fields without indexing, new names: the encoder state never changes. */
export function encodeHeaders(headers: HeaderList): Buffer {
  return Buffer.concat(headers.flatMap(([name, value]) => [Buffer.from([0x00]), encodeString(name), encodeString(value)]));
}

/**
 * Decodes the server's field blocks with the transport's HPACK decoder (checked against RFC
 * 7541's examples and nghttp2 in hpack.test.ts), as name-value pairs.
 */
class ResponseDecoder {
  private readonly decoder = new HpackDecoder();

  decode(block: Buffer): HeaderList {
    const flat = this.decoder.decode(block);
    if (flat === null) throw new Error('HPACK: unreachable (no header list limit was set)');
    const out: HeaderList = [];
    for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// gRPC requests

export function requestHeaders(path: string, extra: HeaderList = []): HeaderList {
  return [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'localhost'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ...extra,
  ];
}

/** A gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, bytes. */
export function grpcMessage(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

export function grpcRequest(path: string, message: Uint8Array): { block: Buffer; data: Buffer } {
  return { block: encodeHeaders(requestHeaders(path)), data: grpcMessage(message) };
}

/** A whole unary request on one stream: HEADERS, then one DATA with END_STREAM. */
export function requestFrames(streamId: number, path: string, message: Uint8Array): Buffer {
  const { block, data } = grpcRequest(path, message);
  return Buffer.concat([frame(FrameType.HEADERS, Flags.END_HEADERS, streamId, block), frame(FrameType.DATA, Flags.END_STREAM, streamId, data)]);
}

// ---------------------------------------------------------------------------------------------
// Connection

const ANY = (): boolean => true;

/** A socket speaking raw HTTP/2: frames in, frames out, and nothing done on its own. */
export class RawConnection {
  /** Every frame received, in order (consumed or not). */
  readonly received: Frame[] = [];
  /** Resolves when the socket closes, whoever closed it. */
  readonly closed: Promise<void>;
  /** Socket errors seen (a reset from the server shows up here). */
  readonly errors: Error[] = [];
  private readonly queue: Frame[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly hpack = new ResponseDecoder();
  private pending: Buffer = EMPTY;
  /** A HEADERS or PUSH_PROMISE waiting for its CONTINUATIONs, held back until the block is whole. */
  private block: Frame[] | undefined;
  private ended = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.errors.push(err));
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  get isClosed(): boolean {
    return this.ended;
  }

  send(...chunks: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  }

  /** Sends and resolves once the bytes are handed to the kernel (or the socket is gone). */
  write(data: Buffer): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.socket.write(data, () => resolve()));
  }

  /**
   * The oldest received frame that matches, taken out of the queue (frames that don't match
   * stay for later calls). Rejects, listing what arrived, on timeout or when the socket closes.
   */
  next(predicate: (f: Frame) => boolean = ANY, timeoutMs = 1000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const check = (): void => {
        const i = this.queue.findIndex(predicate);
        if (i >= 0) {
          done();
          resolve(this.queue.splice(i, 1)[0]!);
        } else if (this.ended) {
          done();
          reject(new Error(`the connection closed before the frame waited for arrived; received: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no such frame within ${timeoutMs} ms; received: ${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Like next, but undefined instead of a rejection when nothing matches in time. */
  maybeNext(predicate: (f: Frame) => boolean = ANY, timeoutMs = 200): Promise<Frame | undefined> {
    return this.next(predicate, timeoutMs).catch(() => undefined);
  }

  waitFor(type: number, streamId?: number, timeoutMs = 1000): Promise<Frame> {
    return this.next((f) => f.type === type && (streamId === undefined || f.streamId === streamId), timeoutMs);
  }

  /** Every queued frame that matches, taken now without waiting. */
  take(predicate: (f: Frame) => boolean): Frame[] {
    const taken: Frame[] = [];
    for (let i = 0; i < this.queue.length; ) {
      if (predicate(this.queue[i]!)) taken.push(this.queue.splice(i, 1)[0]!);
      else i++;
    }
    return taken;
  }

  /** Reads the server's first frame, which must be its SETTINGS, and ACKs it. */
  async handshake(timeoutMs = 1000): Promise<Map<number, number>> {
    const first = await this.next(ANY, timeoutMs);
    if (first.type !== FrameType.SETTINGS || first.flags & Flags.ACK) throw new Error(`the server's first frame is ${describeFrame(first)}, not its SETTINGS`);
    this.send(settingsAck());
    return parseSettings(first.payload);
  }

  /** Resolves when the socket closes; rejects after timeoutMs. */
  waitClosed(timeoutMs = 1000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the connection is still open after ${timeoutMs} ms; received: ${this.describe()}`)), timeoutMs);
      void this.closed.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** The last frames received, for failure messages. */
  describe(last = 12): string {
    const shown = this.received.slice(-last).map(describeFrame);
    const skipped = this.received.length - shown.length;
    return `${skipped > 0 ? `(${skipped} earlier) ` : ''}${shown.join(', ') || 'nothing'}${this.ended ? ', then the socket closed' : ''}`;
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (buf.length >= FRAME_HEADER_BYTES) {
      const length = buf.readUIntBE(0, 3);
      if (buf.length < FRAME_HEADER_BYTES + length) break;
      const f: Frame = { type: buf[3]!, flags: buf[4]!, streamId: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length) };
      buf = buf.subarray(FRAME_HEADER_BYTES + length);
      this.received.push(f);
      this.onFrame(f);
    }
    this.pending = buf;
    this.wake();
  }

  private onFrame(f: Frame): void {
    const startsBlock = f.type === FrameType.HEADERS || f.type === FrameType.PUSH_PROMISE;
    if (startsBlock) this.block = [f];
    else if (f.type === FrameType.CONTINUATION && this.block) this.block.push(f);
    else return void this.queue.push(f);
    if ((f.flags & Flags.END_HEADERS) === 0) return;
    const frames = this.block!;
    this.block = undefined;
    const head = frames[0]!;
    try {
      head.headers = this.hpack.decode(Buffer.concat(frames.map(fragmentOf)));
    } catch (err) {
      head.hpackError = err as Error;
    }
    this.queue.push(...frames);
  }

  private wake(): void {
    for (const check of [...this.waiters]) check();
  }
}

/**
 * Opens a TCP connection and sends `opening`: by default the client preface and a SETTINGS
 * frame with `settings`. Resolves once connected.
 */
export function connectRaw(port: number, settings: Record<number, number> = {}, opening: Buffer = Buffer.concat([PREFACE, settingsFrame(settings)])): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const conn = new RawConnection(socket);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.write(opening);
      resolve(conn);
    });
  });
}

/** The decoded field block of a HEADERS frame; throws the decoding error if there was one. */
export function headersOf(f: Frame): HeaderList {
  if (f.hpackError) throw f.hpackError;
  if (!f.headers) throw new Error(`${describeFrame(f)} carries no decoded field block`);
  return f.headers;
}

export interface Response {
  /** The stream's frames in order (HEADERS, DATA, trailers, or an RST_STREAM). */
  readonly frames: Frame[];
  readonly headers: Record<string, string> | undefined;
  readonly data: Buffer;
  readonly trailers: Record<string, string> | undefined;
  /** The RST_STREAM error code, if the server reset the stream. */
  readonly reset: number | undefined;
}

/**
 * Reads one stream's response until END_STREAM or RST_STREAM (the response is not checked
 * here). `headersRead`: the response HEADERS were already taken, the next HEADERS is trailers.
 */
export async function readResponse(conn: RawConnection, streamId: number, { timeoutMs = 1000, headersRead = false } = {}): Promise<Response> {
  const frames: Frame[] = [];
  const data: Buffer[] = [];
  let headers: Record<string, string> | undefined = headersRead ? {} : undefined;
  let trailers: Record<string, string> | undefined;
  const relevant = (f: Frame): boolean => f.streamId === streamId && (f.type === FrameType.HEADERS || f.type === FrameType.DATA || f.type === FrameType.RST_STREAM);
  for (;;) {
    const f = await conn.next(relevant, timeoutMs);
    frames.push(f);
    const result = () => ({ frames, headers, data: Buffer.concat(data), trailers });
    if (f.type === FrameType.RST_STREAM) return { ...result(), reset: rstCode(f) };
    if (f.type === FrameType.DATA) data.push(dataOf(f));
    else if (headers === undefined) headers = Object.fromEntries(headersOf(f));
    else trailers = Object.fromEntries(headersOf(f));
    if (f.flags & Flags.END_STREAM) return { ...result(), reset: undefined };
  }
}
