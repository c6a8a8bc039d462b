import type { Socket } from 'node:net';
import { Budget } from './budget.js';
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  encodeFrame,
  encodeGoaway,
  encodeSettings,
  encodeU32Frame,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  Http2Error,
  MAX_FRAME_SIZE_LIMIT,
  MAX_WINDOW,
  Setting,
} from './frames.js';
import { HpackDecoder, HpackError } from './hpack.js';
import { requestHeaders, type RequestHeaders } from './request-headers.js';

/**
 * The server side of one HTTP/2 connection (RFC 9113) over cleartext TCP with prior knowledge,
 * as Envoy's gRPC clients open it: the frame layer, stream states, flow control in both
 * directions, SETTINGS, PING, GOAWAY, and the bounds a server needs against peers that make it
 * work for nothing. Requests reach `onStream` as ServerStreams with their checked headers.
 * No server push, no priorities (PRIORITY is read and ignored, as RFC 9113 §5.3.2 allows).
 *
 * Everything a connection writes in one turn goes out in one socket write: all the frames that
 * one read's requests produce (their answers included, when they are answered at once), or
 * what later callbacks queue before the next tick.
 */

export interface ConnectionLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: open streams beyond it are refused (REFUSED_STREAM). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: bytes a client may send on a stream before we read them. */
  readonly streamWindowBytes: number;
  /** The connection's receive window, all streams together. */
  readonly connectionWindowBytes: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: larger request header lists are answered 431. */
  readonly maxHeaderListBytes: number;
  /** Bytes of one compressed header block (HEADERS and CONTINUATIONs) before the connection is closed. */
  readonly maxHeaderBlockBytes: number;
  /** Milliseconds between keepalive PINGs; 0 turns them off. */
  readonly keepaliveIntervalMs: number;
  /** A PING not acknowledged within this closes the connection. */
  readonly keepaliveTimeoutMs: number;
  /**
   * Our SETTINGS not acknowledged within this is a connection error (SETTINGS_TIMEOUT, RFC 9113
   * §6.5.3): a peer that connects and never speaks HTTP/2 is let go.
   */
  readonly settingsTimeoutMs: number;
  /**
   * Bytes written but not yet taken by the client at which the connection stops reading until
   * they drain: a client that sends but does not read (answers, PING and SETTINGS ACKs) makes
   * no more work for us.
   */
  readonly pauseReadingBytes: number;
  /** Streams the client may reset (or make us reset) before they were answered: burst, and per second after it. */
  readonly resetBurst: number;
  readonly resetsPerSecond: number;
  /** Frames that do nothing (empty DATA, PRIORITY, unknown types): burst, and per second after it. */
  readonly idleFrameBurst: number;
  readonly idleFramesPerSecond: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxConcurrentStreams: 1000,
  streamWindowBytes: 1024 * 1024,
  connectionWindowBytes: 16 * 1024 * 1024,
  maxHeaderListBytes: 64 * 1024,
  maxHeaderBlockBytes: 256 * 1024,
  keepaliveIntervalMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  settingsTimeoutMs: 10_000,
  pauseReadingBytes: 1024 * 1024,
  resetBurst: 1000,
  resetsPerSecond: 100,
  idleFrameBurst: 1000,
  idleFramesPerSecond: 100,
};

const EMPTY = Buffer.alloc(0);
/** `:status 431` alone (static table index 0x0d `:status`, literal value), END_STREAM. */
const HEADER_LIST_TOO_LARGE = Buffer.from([0x08, 0x03, 0x34, 0x33, 0x31]);
/** GOAWAY debug text is for people reading captures; keep it short. */
const MAX_DEBUG_BYTES = 256;

/**
 * One request stream. The consumer sets `ondata`/`onend`/`onclose` inside onStream; they are
 * called synchronously as frames arrive. Header blocks are HPACK-encoded by the caller
 * (src/http2/hpack.ts HpackEncoder, or constant blocks encoded once).
 */
export class ServerStream {
  /** A chunk of the request body (padding removed). */
  ondata: ((chunk: Buffer) => void) | undefined;
  /** The client finished its side (END_STREAM). */
  onend: (() => void) | undefined;
  /** The stream ended before this side did: reset by the client, a stream error, or the connection went. */
  onclose: (() => void) | undefined;

  /** Bytes we may still send on this stream (the peer's window). */
  sendWindow: number;
  /** Bytes the peer may still send (our window). */
  recvWindow: number;
  /** Bytes received since we last widened the window. */
  unacked = 0;
  received = 0;
  peerEnded = false;
  /** END_STREAM is queued: nothing more may be sent. */
  localEnded = false;
  /** Gone from the connection: answered and finished, or reset. */
  closed = false;
  /** DATA waiting for window. */
  readonly pending: Buffer[] = [];
  /** Set by end(): the trailer block to send after pending DATA (EMPTY: end with an empty DATA frame). */
  ending: Buffer | undefined;

  constructor(
    readonly id: number,
    readonly headers: RequestHeaders,
    readonly contentLength: number,
    private readonly connection: Http2Connection,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** Sends a header block (`endStream`: and nothing after it). */
  respond(block: Buffer, endStream = false): void {
    if (this.closed || this.localEnded) return;
    if (endStream) this.localEnded = true;
    this.connection.sendHeaders(this.id, block, endStream);
    if (endStream) this.connection.finishStream(this);
  }

  /** Sends body bytes as DATA, as the flow-control windows allow (the rest waits, in order). Ignored once end() was called. */
  write(data: Buffer): void {
    if (this.closed || this.localEnded || this.ending !== undefined || data.length === 0) return;
    this.pending.push(data);
    this.connection.sendPending(this);
  }

  /** Ends this side: trailers (a header block) after any DATA still waiting, or an empty END_STREAM DATA frame. */
  end(trailers: Buffer = EMPTY): void {
    if (this.closed || this.localEnded || this.ending !== undefined) return;
    this.ending = trailers;
    this.connection.sendPending(this);
  }
}

interface HeaderBlock {
  readonly streamId: number;
  readonly endStream: boolean;
  readonly parts: Buffer[];
  bytes: number;
}

/** Serves HTTP/2 on a socket until it closes; `close()` for a graceful end. */
export class Http2Connection {
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  private readonly streams = new Map<number, ServerStream>();
  private readonly decoder = new HpackDecoder();
  private readonly resets: Budget;
  private readonly idleFrames: Budget;
  private rest: Buffer | null = null;
  private prefaceSeen = false;
  private settingsSeen = false;
  private headerBlock: HeaderBlock | null = null;
  private lastPeerStreamId = 0;
  /** The last stream id our GOAWAY promised to process; streams after it are refused. */
  private goawayLastId = -1;
  private peerGoaway = false;
  private dead = false;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvWindow: number;
  private connUnacked = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /**
   * Streams this side closed while the client was still sending (reset, refused, rejected,
   * answered early), newest last: frames the client sent before it knew, trailers included,
   * are ignored for these (RFC 9113 §5.1, "closed") rather than taken as errors.
   */
  private readonly cutShort = new Set<number>();
  /** Streams with DATA waiting for window, in the order they blocked. */
  private readonly blocked = new Set<ServerStream>();
  private out: Buffer[] = [];
  private reading = false;
  private flushQueued = false;
  private keepalive: NodeJS.Timeout | undefined;
  private pingDeadline: NodeJS.Timeout | undefined;
  private settingsDeadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly onStream: (stream: ServerStream) => void,
    private readonly limits: ConnectionLimits = DEFAULT_LIMITS,
  ) {
    this.connRecvWindow = limits.connectionWindowBytes;
    this.resets = new Budget(limits.resetBurst, limits.resetsPerSecond);
    this.idleFrames = new Budget(limits.idleFrameBurst, limits.idleFramesPerSecond);
    socket.setNoDelay(true);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A reset or failed socket ends the connection; 'close' follows and cleans up.
    socket.on('error', () => {});
    socket.once('close', () => this.onSocketClose());
    // The server preface: our SETTINGS, then the connection window we keep.
    this.queue(
      encodeSettings([
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.streamWindowBytes],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListBytes],
      ]),
    );
    if (limits.connectionWindowBytes > DEFAULT_WINDOW) this.queue(encodeU32Frame(FrameType.WINDOW_UPDATE, 0, limits.connectionWindowBytes - DEFAULT_WINDOW));
    this.settingsDeadline = setTimeout(() => {
      this.connectionError(new Http2Error(ErrorCode.SETTINGS_TIMEOUT, `our SETTINGS were not acknowledged within ${limits.settingsTimeoutMs} ms`));
    }, limits.settingsTimeoutMs);
    this.settingsDeadline.unref();
    if (limits.keepaliveIntervalMs > 0) {
      this.keepalive = setInterval(() => this.ping(), limits.keepaliveIntervalMs);
      this.keepalive.unref();
    }
  }

  /**
   * Graceful close: GOAWAY naming the last stream we will process; those finish, later ones
   * are refused (the client retries them elsewhere), and the connection closes once idle.
   */
  close(): void {
    if (this.dead || this.goawayLastId >= 0) return;
    this.goawayLastId = this.lastPeerStreamId;
    this.queue(encodeGoaway(this.goawayLastId, ErrorCode.NO_ERROR, ''));
    this.endIfIdle();
  }

  /** Closes at once, streams and all. */
  destroy(): void {
    this.socket.destroy();
  }

  // --- input ---

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    const buf = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let pos = 0;
    this.reading = true;
    try {
      if (!this.prefaceSeen) {
        const n = Math.min(buf.length, CLIENT_PREFACE.length);
        if (buf.compare(CLIENT_PREFACE, 0, n, 0, n) !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'the connection did not start with the HTTP/2 client preface');
        if (buf.length < CLIENT_PREFACE.length) {
          this.rest = buf;
          return;
        }
        this.prefaceSeen = true;
        pos = CLIENT_PREFACE.length;
      }
      while (buf.length - pos >= FRAME_HEADER_BYTES && !this.dead) {
        const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
        // We never raise SETTINGS_MAX_FRAME_SIZE above its initial value.
        if (length > DEFAULT_MAX_FRAME_SIZE) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes, over SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`);
        const end = pos + FRAME_HEADER_BYTES + length;
        if (end > buf.length) break;
        const type = buf[pos + 3]!;
        const flags = buf[pos + 4]!;
        const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
        const payload = buf.subarray(pos + FRAME_HEADER_BYTES, end);
        pos = end;
        try {
          this.onFrame(type, flags, streamId, payload);
        } catch (err) {
          if (err instanceof Http2Error && err.streamId !== 0) this.streamError(err);
          else throw err;
        }
      }
      if (pos < buf.length && !this.dead) this.rest = buf.subarray(pos);
    } catch (err) {
      this.connectionError(err);
    } finally {
      this.reading = false;
      this.flush();
    }
  }

  private onFrame(type: number, flags: number, streamId: number, p: Buffer): void {
    if (this.headerBlock !== null && type !== FrameType.CONTINUATION) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `frame of type ${type} inside the header block of stream ${this.headerBlock.streamId} (CONTINUATION expected)`);
    }
    if (!this.settingsSeen && (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0)) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `the first frame after the preface must be SETTINGS, not type ${type}`);
    }
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, streamId, p);
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, streamId, p);
      case FrameType.PRIORITY:
        if (streamId === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (p.length !== 5) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `PRIORITY of ${p.length} bytes, not 5`, streamId);
        return this.idleFrame('PRIORITY');
      case FrameType.RST_STREAM:
        return this.onRstStream(streamId, p);
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, p);
      case FrameType.PUSH_PROMISE:
        throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FrameType.PING:
        return this.onPing(flags, streamId, p);
      case FrameType.GOAWAY:
        return this.onGoaway(streamId, p);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, p);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, streamId, p);
      default:
        // Unknown frame types are ignored (RFC 9113 §5.5), within the idle-frame budget.
        return this.idleFrame(`type ${type}`);
    }
  }

  private onDataFrame(flags: number, streamId: number, p: Buffer): void {
    if (streamId === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    if (p.length > this.connRecvWindow) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${p.length} bytes beyond the connection window (${this.connRecvWindow})`);
    this.connRecvWindow -= p.length;
    // Padding and data sent to streams that are gone count against the window too; give it back.
    this.consumed(p.length);
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastPeerStreamId) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `DATA on stream ${streamId}, which is idle`);
      // A stream we closed or reset: frames the client sent before it knew are dropped.
      return;
    }
    if (stream.peerEnded) throw new Http2Error(ErrorCode.STREAM_CLOSED, `DATA on stream ${streamId} after END_STREAM`, streamId);
    if (p.length > stream.recvWindow) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, `DATA of ${p.length} bytes beyond stream ${streamId}'s window (${stream.recvWindow})`, streamId);
    stream.recvWindow -= p.length;
    const [from, to] = unpad(flags, p, 'DATA');
    const end = (flags & Flag.END_STREAM) !== 0;
    if (to === from && !end) this.idleFrame('empty DATA');
    stream.received += to - from;
    if (stream.contentLength >= 0 && stream.received > stream.contentLength) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `stream ${streamId} sent more than its content-length (${stream.contentLength})`, streamId);
    }
    if (to > from) stream.ondata?.(p.subarray(from, to));
    if (stream.closed) return;
    if (end) return this.peerEnd(stream);
    stream.unacked += p.length;
    if (stream.unacked >= this.limits.streamWindowBytes / 2) {
      this.queue(encodeU32Frame(FrameType.WINDOW_UPDATE, streamId, stream.unacked));
      stream.recvWindow += stream.unacked;
      stream.unacked = 0;
    }
  }

  private onHeadersFrame(flags: number, streamId: number, p: Buffer): void {
    if (streamId === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let [from, to] = unpad(flags, p, 'HEADERS');
    if ((flags & Flag.PRIORITY) !== 0) {
      if (to - from < 5) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its PRIORITY fields');
      if ((p.readUInt32BE(from) & 0x7fffffff) === streamId) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `stream ${streamId} depends on itself`, streamId);
      from += 5;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if ((flags & Flag.END_HEADERS) !== 0) return this.onHeaderBlock(streamId, endStream, p.subarray(from, to));
    const part = Buffer.from(p.subarray(from, to));
    this.headerBlock = { streamId, endStream, parts: [part], bytes: part.length };
  }

  private onContinuation(flags: number, streamId: number, p: Buffer): void {
    const block = this.headerBlock;
    if (block === null || block.streamId !== streamId) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without a HEADERS frame before it`);
    block.bytes += p.length;
    if (block.bytes > this.limits.maxHeaderBlockBytes) throw new Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `header block over ${this.limits.maxHeaderBlockBytes} bytes`);
    block.parts.push(Buffer.from(p));
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.headerBlock = null;
    this.onHeaderBlock(streamId, block.endStream, Buffer.concat(block.parts, block.bytes));
  }

  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    // Decode first, whatever happens to the stream: the HPACK table must stay in step with the client's.
    let fields: string[] | null;
    try {
      fields = this.decoder.decode(block, this.limits.maxHeaderListBytes);
    } catch (err) {
      if (err instanceof HpackError) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, `stream ${streamId}: ${err.message}`);
      throw err;
    }
    if (this.cutShort.has(streamId)) return;
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers.
      if (existing.peerEnded) throw new Http2Error(ErrorCode.STREAM_CLOSED, `HEADERS on stream ${streamId} after END_STREAM`, streamId);
      if (!endStream) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `trailers on stream ${streamId} without END_STREAM`, streamId);
      if (fields === null) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `trailers on stream ${streamId} over ${this.limits.maxHeaderListBytes} bytes`, streamId);
      requestHeaders(fields, streamId, true);
      return this.peerEnd(existing);
    }
    if (streamId % 2 === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `stream ${streamId} opened by the client has an even id`);
    if (streamId <= this.lastPeerStreamId) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${streamId}, which is not above the last stream opened (${this.lastPeerStreamId})`);
    this.lastPeerStreamId = streamId;
    if (this.goawayLastId >= 0) throw new Http2Error(ErrorCode.REFUSED_STREAM, `stream ${streamId} opened after GOAWAY`, streamId);
    if (this.streams.size >= this.limits.maxConcurrentStreams) throw new Http2Error(ErrorCode.REFUSED_STREAM, `stream ${streamId} over SETTINGS_MAX_CONCURRENT_STREAMS`, streamId);
    if (fields === null) {
      this.sendHeaders(streamId, HEADER_LIST_TOO_LARGE, true);
      if (!endStream) {
        this.queue(encodeU32Frame(FrameType.RST_STREAM, streamId, ErrorCode.NO_ERROR));
        this.cutShortStream(streamId);
      }
      return;
    }
    const headers = requestHeaders(fields, streamId);
    const contentLength = parseContentLength(headers['content-length'], streamId);
    const stream = new ServerStream(streamId, headers, contentLength, this, this.peerInitialWindow, this.limits.streamWindowBytes);
    this.streams.set(streamId, stream);
    this.onStream(stream);
    if (endStream && !stream.closed) this.peerEnd(stream);
  }

  private peerEnd(stream: ServerStream): void {
    stream.peerEnded = true;
    if (stream.contentLength >= 0 && stream.received !== stream.contentLength) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `stream ${stream.id} ended after ${stream.received} bytes, not its content-length ${stream.contentLength}`, stream.id);
    }
    stream.onend?.();
    if (stream.localEnded && !stream.closed) this.removeStream(stream);
  }

  private onRstStream(streamId: number, p: Buffer): void {
    if (p.length !== 4) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `RST_STREAM of ${p.length} bytes, not 4`);
    if (streamId === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (streamId > this.lastPeerStreamId) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on stream ${streamId}, which is idle`);
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    const unanswered = !stream.localEnded;
    this.abandon(stream);
    // Streams opened and cancelled before they were answered cost us work the client never waits for (CVE-2023-44487).
    if (unanswered && !this.resets.take()) throw new Http2Error(ErrorCode.ENHANCE_YOUR_CALM, 'too many streams reset before they were answered');
  }

  private onSettings(flags: number, streamId: number, p: Buffer): void {
    if (streamId !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS on stream ${streamId}`);
    if ((flags & Flag.ACK) !== 0) {
      if (p.length !== 0) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS ACK with a ${p.length}-byte payload`);
      clearTimeout(this.settingsDeadline);
      return;
    }
    if (p.length % 6 !== 0) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS of ${p.length} bytes, not a multiple of 6`);
    for (let at = 0; at < p.length; at += 6) {
      const id = p.readUInt16BE(at);
      const value = p.readUInt32BE(at + 2);
      if (id === Setting.ENABLE_PUSH && value > 1) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}, not 0 or 1`);
      if (id === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value}, over 2^31-1`);
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE takes stream ${s.id}'s window over 2^31-1`);
        }
      }
      if (id === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value}, outside 16384..16777215`);
        this.peerMaxFrameSize = value;
      }
      // HEADER_TABLE_SIZE: our encoder never uses the dynamic table. The rest only bound what a client does.
    }
    this.settingsSeen = true;
    this.queue(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
    this.sendBlocked();
  }

  private onPing(flags: number, streamId: number, p: Buffer): void {
    if (p.length !== 8) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `PING of ${p.length} bytes, not 8`);
    if (streamId !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `PING on stream ${streamId}`);
    if ((flags & Flag.ACK) !== 0) {
      clearTimeout(this.pingDeadline);
      this.pingDeadline = undefined;
      return;
    }
    this.queue(encodeFrame(FrameType.PING, Flag.ACK, 0, p));
  }

  private onGoaway(streamId: number, p: Buffer): void {
    if (streamId !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `GOAWAY on stream ${streamId}`);
    if (p.length < 8) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `GOAWAY of ${p.length} bytes, under 8`);
    // The client opens nothing more; what it opened is answered, then the connection closes.
    this.peerGoaway = true;
    this.endIfIdle();
  }

  private onWindowUpdate(streamId: number, p: Buffer): void {
    if (p.length !== 4) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${p.length} bytes, not 4`);
    const increment = p.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      this.connSendWindow += increment;
      if (this.connSendWindow > MAX_WINDOW) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'WINDOW_UPDATE takes the connection window over 2^31-1');
      return this.sendBlocked();
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastPeerStreamId) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on stream ${streamId}, which is idle`);
      return;
    }
    if (increment === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE of 0 on stream ${streamId}`, streamId);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, `WINDOW_UPDATE takes stream ${streamId}'s window over 2^31-1`, streamId);
    this.sendPending(stream);
  }

  private idleFrame(what: string): void {
    if (!this.idleFrames.take()) throw new Http2Error(ErrorCode.ENHANCE_YOUR_CALM, `too many frames that do nothing (${what})`);
  }

  /** Gives received bytes back to the connection window once half of it is used. */
  private consumed(bytes: number): void {
    this.connUnacked += bytes;
    if (this.connUnacked < this.limits.connectionWindowBytes / 2) return;
    this.queue(encodeU32Frame(FrameType.WINDOW_UPDATE, 0, this.connUnacked));
    this.connRecvWindow += this.connUnacked;
    this.connUnacked = 0;
  }

  // --- output (ServerStream calls these) ---

  /** A header block as HEADERS, with CONTINUATIONs when it is larger than the client's frame size. */
  sendHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrameSize;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) return this.queue(encodeFrame(FrameType.HEADERS, endFlag | Flag.END_HEADERS, streamId, block));
    this.queue(encodeFrame(FrameType.HEADERS, endFlag, streamId, block, 0, max));
    for (let at = max; at < block.length; at += max) {
      const to = Math.min(block.length, at + max);
      this.queue(encodeFrame(FrameType.CONTINUATION, to === block.length ? Flag.END_HEADERS : 0, streamId, block, at, to));
    }
  }

  /** Sends as much of a stream's waiting DATA as the windows allow, then its end if it was asked for. */
  sendPending(stream: ServerStream): void {
    const pending = stream.pending;
    while (pending.length > 0) {
      const window = Math.min(this.connSendWindow, stream.sendWindow);
      if (window <= 0) {
        this.blocked.add(stream);
        return;
      }
      const chunk = pending[0]!;
      const n = Math.min(chunk.length, window, this.peerMaxFrameSize);
      this.queue(encodeFrame(FrameType.DATA, 0, stream.id, chunk, 0, n));
      this.connSendWindow -= n;
      stream.sendWindow -= n;
      if (n === chunk.length) pending.shift();
      else pending[0] = chunk.subarray(n);
    }
    this.blocked.delete(stream);
    const ending = stream.ending;
    if (ending === undefined || stream.localEnded) return;
    stream.localEnded = true;
    if (ending.length > 0) this.sendHeaders(stream.id, ending, true);
    else this.queue(encodeFrame(FrameType.DATA, Flag.END_STREAM, stream.id));
    this.finishStream(stream);
  }

  /** Our side ended: the stream closes if the client's has too; if not, it is told to stop sending (RFC 9113 §8.1). */
  finishStream(stream: ServerStream): void {
    if (stream.closed) return;
    if (!stream.peerEnded) this.queue(encodeU32Frame(FrameType.RST_STREAM, stream.id, ErrorCode.NO_ERROR));
    this.removeStream(stream);
  }

  private sendBlocked(): void {
    for (const s of this.blocked) {
      if (this.connSendWindow <= 0) return;
      this.sendPending(s);
    }
  }

  private streamError(err: Http2Error): void {
    this.queue(encodeU32Frame(FrameType.RST_STREAM, err.streamId, err.code));
    this.cutShortStream(err.streamId);
    const stream = this.streams.get(err.streamId);
    if (stream !== undefined) this.abandon(stream);
    // Requests the client makes us refuse or reject cost work too (the rapid-reset pattern without RST_STREAM).
    if (err.code !== ErrorCode.REFUSED_STREAM && !this.resets.take()) this.connectionError(new Http2Error(ErrorCode.ENHANCE_YOUR_CALM, 'too many streams reset for errors'));
  }

  /** The stream is over without our side having ended it: its consumer hears onclose. */
  private abandon(stream: ServerStream): void {
    this.removeStream(stream);
    stream.onclose?.();
  }

  private removeStream(stream: ServerStream): void {
    if (!stream.peerEnded) this.cutShortStream(stream.id);
    stream.closed = true;
    stream.pending.length = 0;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.endIfIdle();
  }

  /** Remembers a stream as cut short (see cutShort), the last 1,000 of them. */
  private cutShortStream(id: number): void {
    this.cutShort.add(id);
    if (this.cutShort.size > 1000) this.cutShort.delete(this.cutShort.values().next().value as number);
  }

  private connectionError(err: unknown): void {
    if (this.dead) return;
    const e = err instanceof Http2Error ? err : new Http2Error(ErrorCode.INTERNAL_ERROR, 'internal error');
    this.queue(encodeGoaway(this.lastPeerStreamId, e.code, e.message.slice(0, MAX_DEBUG_BYTES)));
    this.dead = true;
    this.flush();
    this.socket.end();
    // A client that does not close its side is not waited for.
    setTimeout(() => this.socket.destroy(), 1000).unref();
    for (const s of [...this.streams.values()]) this.abandon(s);
  }

  private ping(): void {
    if (this.dead || this.pingDeadline !== undefined) return;
    this.queue(encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    this.pingDeadline = setTimeout(() => this.socket.destroy(), this.limits.keepaliveTimeoutMs);
    this.pingDeadline.unref();
  }

  private endIfIdle(): void {
    if (this.streams.size > 0 || this.dead || (!this.peerGoaway && this.goawayLastId < 0)) return;
    this.dead = true;
    this.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onSocketClose(): void {
    this.dead = true;
    clearInterval(this.keepalive);
    clearTimeout(this.pingDeadline);
    clearTimeout(this.settingsDeadline);
    this.out = [];
    for (const s of [...this.streams.values()]) this.abandon(s);
  }

  private queue(frame: Buffer): void {
    this.out.push(frame);
    if (this.reading || this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(flushLater, this);
  }

  /** Writes what is queued in one go (one writev for several frames). */
  flush(): void {
    this.flushQueued = false;
    const out = this.out;
    if (out.length === 0 || this.socket.destroyed) return;
    this.out = [];
    if (out.length === 1) this.socket.write(out[0]!);
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    if (this.socket.writableLength >= this.limits.pauseReadingBytes && !this.socket.isPaused()) {
      this.socket.pause();
      this.socket.once('drain', () => this.socket.resume());
    }
  }
}

function flushLater(c: Http2Connection): void {
  c.flush();
}

/** The payload span without padding (RFC 9113 §6.1): [from, to). */
function unpad(flags: number, p: Buffer, what: string): [number, number] {
  if ((flags & Flag.PADDED) === 0) return [0, p.length];
  if (p.length === 0) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `padded ${what} without a pad length`);
  const pad = p[0]!;
  if (pad >= p.length) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `${what} padding of ${pad} bytes in a ${p.length}-byte payload`);
  return [1, p.length - pad];
}

/** content-length as a number, −1 when absent; malformed (a stream error) when not a decimal count. */
function parseContentLength(value: string | undefined, streamId: number): number {
  if (value === undefined) return -1;
  if (!/^\d{1,15}$/.test(value)) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `malformed request: content-length "${value}" is not a byte count`, streamId);
  return Number(value);
}
