import { GrpcError, Status } from './status.js';

/**
 * gRPC length-prefixed messages: a 1-byte compressed flag, a 4-byte big-endian length, then
 * the message. Messages arrive split across and packed into HTTP/2 DATA frames in any way;
 * the decoder reassembles them.
 */
export const PREFIX_BYTES = 5;

/**
 * Bytes of unfinished messages that the decoders of one connection's calls hold together, and
 * their bound: each call is bounded by the maximum message size, but a client could otherwise
 * leave a large message unfinished on each of many streams.
 */
export interface HeldBytes {
  bytes: number;
  readonly max: number;
}

export class MessageDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes that must be pending before parsing can make progress (a prefix, or a whole message). */
  private need = PREFIX_BYTES;

  constructor(
    private readonly maxMessageBytes: number,
    private readonly held: HeldBytes = { bytes: 0, max: Infinity },
  ) {}

  /** Feeds one DATA chunk; returns the messages it completes (throws GrpcError on a bad frame). */
  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.held.bytes += chunk.length;
    if (this.held.bytes > this.held.max && this.pendingBytes < this.need) {
      throw new GrpcError(Status.RESOURCE_EXHAUSTED, `the calls on this connection hold more than ${this.held.max} bytes of unfinished messages`);
    }
    // A large message arriving in many chunks is joined once, when it is complete.
    if (this.pendingBytes < this.need) return [];
    const buf = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    const out: Buffer[] = [];
    let pos = 0;
    this.need = PREFIX_BYTES;
    while (buf.length - pos >= PREFIX_BYTES) {
      const flag = buf[pos]!;
      const length = buf.readUInt32BE(pos + 1);
      if (flag === 1) throw new GrpcError(Status.INTERNAL, 'compressed message received, but the call negotiated no compression (grpc-encoding is identity)');
      if (flag !== 0) throw new GrpcError(Status.INTERNAL, `invalid compressed flag ${flag} in a message prefix`);
      if (length > this.maxMessageBytes) throw new GrpcError(Status.RESOURCE_EXHAUSTED, `received message larger than max (${length} vs. ${this.maxMessageBytes})`);
      if (buf.length - pos - PREFIX_BYTES < length) {
        this.need = PREFIX_BYTES + length;
        break;
      }
      out.push(buf.subarray(pos + PREFIX_BYTES, pos + PREFIX_BYTES + length));
      pos += PREFIX_BYTES + length;
    }
    this.pending = pos < buf.length ? [buf.subarray(pos)] : [];
    this.held.bytes -= this.pendingBytes - (buf.length - pos);
    this.pendingBytes = buf.length - pos;
    return out;
  }

  /** The call is over: what it held no longer counts against the connection. */
  release(): void {
    this.held.bytes -= this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** True when bytes of an unfinished message are waiting (a stream that ends now ended mid-message). */
  get partial(): boolean {
    return this.pendingBytes > 0;
  }
}

/** One message with its prefix, in a single buffer (one DATA frame for small messages). */
export function frame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX_BYTES);
  return out;
}
