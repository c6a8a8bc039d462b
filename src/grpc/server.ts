import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_LIMITS, Http2Connection, type ConnectionLimits, type ServerStream } from '../http2/connection.js';
import { HpackEncoder } from '../http2/hpack.js';
import type { RequestHeaders } from '../http2/request-headers.js';
import { frame, MessageDecoder, type HeldBytes } from './framing.js';
import { encodeGrpcMessage, GrpcError, parseTimeout, Status, type StatusCode } from './status.js';

/**
 * A small gRPC server on our own HTTP/2 layer (src/http2, h2c with prior knowledge), for the calls Envoy makes: unary (ext_authz Check,
 * health Check) and bidirectional streams (ext_proc). It implements the parts of the gRPC
 * over HTTP/2 protocol those need (doc/PROTOCOL-HTTP2.md in grpc/grpc): length-prefixed
 * messages across DATA frames, identity encoding only (anything else is UNIMPLEMENTED),
 * `grpc-timeout` deadlines, status and message in trailers (trailers-only for errors),
 * maximum message sizes, keepalive pings, GOAWAY on shutdown, UNIMPLEMENTED for unknown
 * methods. Nothing here throws into Node's event loop: every failure becomes a status.
 */

export interface CallContext {
  /** `/package.Service/Method`. */
  readonly path: string;
  readonly metadata: RequestHeaders;
  /** When the client's deadline passes (ms since the epoch), if it set one. */
  readonly deadline: number | undefined;
  /** Aborted when the client cancels, the deadline passes or the server is shut down. */
  readonly signal: AbortSignal;
}

/** Answers one request message with one response message (both serialised). */
export type UnaryHandler = (request: Buffer, call: CallContext) => Uint8Array | Promise<Uint8Array>;

export interface StreamCall extends CallContext {
  /** Sends one response message (response headers go with the first). False once the call is over. */
  send(message: Uint8Array): boolean;
  /** Ends the call: OK, or the error's status and message. Later calls are ignored. */
  end(error?: GrpcError): void;
}

/** What a streaming handler does with the client's side of the call. */
export interface StreamListener {
  message(request: Buffer): void;
  /** The client sent all its messages (it may still be waiting for responses). */
  halfClose(): void;
  /** The call is over without the handler ending it (client cancel, deadline, shutdown, bad frame). */
  cancel(): void;
}
export type StreamHandler = (call: StreamCall) => StreamListener;

export interface GrpcServerOptions {
  readonly maxReceiveMessageBytes: number;
  /**
   * Bytes of unfinished request messages the calls on one connection may hold together; the
   * call whose bytes go past it fails with RESOURCE_EXHAUSTED.
   */
  readonly maxUnfinishedBytesPerConnection: number;
  /** Seconds between keepalive pings on an otherwise idle connection; 0 turns them off. */
  readonly keepaliveIntervalMs: number;
  /** A ping not answered within this closes the connection. */
  readonly keepaliveTimeoutMs: number;
  readonly maxConcurrentStreams: number;
  /** Handler failures (a thrown error, not a GrpcError): the call answers INTERNAL without details. */
  readonly onHandlerError?: (err: unknown, path: string) => void;
}

export const DEFAULT_SERVER_OPTIONS: GrpcServerOptions = {
  maxReceiveMessageBytes: 8 * 1024 * 1024,
  maxUnfinishedBytesPerConnection: 64 * 1024 * 1024,
  keepaliveIntervalMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  maxConcurrentStreams: 1000,
};

type Route = { kind: 'unary'; handler: UnaryHandler } | { kind: 'stream'; handler: StreamHandler };

const hpack = new HpackEncoder();
const RESPONSE_HEADERS = [':status', '200', 'content-type', 'application/grpc'] as const;
/** The blocks every successful call sends, encoded once. */
const RESPONSE_BLOCK = hpack.encode(RESPONSE_HEADERS);
const OK_TRAILERS_BLOCK = hpack.encode(['grpc-status', '0']);

export class GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly connections = new Set<Http2Connection>();
  private readonly server: net.Server;
  private readonly options: GrpcServerOptions;
  private readonly limits: ConnectionLimits;
  private closing = false;

  constructor(options: Partial<GrpcServerOptions> = {}) {
    this.options = { ...DEFAULT_SERVER_OPTIONS, ...options };
    const { maxConcurrentStreams, keepaliveIntervalMs, keepaliveTimeoutMs } = this.options;
    this.limits = { ...DEFAULT_LIMITS, maxConcurrentStreams, keepaliveIntervalMs, keepaliveTimeoutMs };
    this.server = net.createServer((socket) => this.accept(socket));
  }

  unary(path: string, handler: UnaryHandler): this {
    this.routes.set(path, { kind: 'unary', handler });
    return this;
  }

  stream(path: string, handler: StreamHandler): this {
    this.routes.set(path, { kind: 'stream', handler });
    return this;
  }

  /** Binds and listens; resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /**
   * Serves a connection: one this server accepted, or one accepted elsewhere and not read
   * from yet (`serve --workers`: the primary's balancer hands it over).
   */
  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const held: HeldBytes = { bytes: 0, max: this.options.maxUnfinishedBytesPerConnection };
    const connection = new Http2Connection(socket, (stream) => this.onStream(stream, held), this.limits);
    this.connections.add(connection);
    void connection.closed.then(() => this.connections.delete(connection));
    // A handed-over socket may arrive paused.
    socket.resume();
  }

  /**
   * Graceful: stop accepting connections, send GOAWAY on every connection so clients open
   * new streams elsewhere, let in-flight calls finish for up to `graceMs`, then cut the rest.
   * Waits for every connection, handed-over ones included.
   */
  async close(graceMs = 5000): Promise<void> {
    this.closing = true;
    const listening = this.server.listening ? new Promise<void>((resolve) => this.server.close(() => resolve())) : Promise.resolve();
    const connections = [...this.connections];
    for (const c of connections) c.close();
    const force = setTimeout(() => {
      for (const c of this.connections) c.destroy();
    }, graceMs);
    force.unref();
    await Promise.all([listening, ...connections.map((c) => c.closed)]);
    clearTimeout(force);
  }

  private onStream(stream: ServerStream, held: HeldBytes): void {
    const headers = stream.headers;
    if (headers[':method'] !== 'POST') return respondHttp(stream, 405);
    const contentType = headers['content-type'];
    if (contentType === undefined || !/^application\/grpc(?:$|[+;])/.test(contentType)) return respondHttp(stream, 415);
    const path = headers[':path']!;
    const route = this.routes.get(path);
    if (route === undefined) return trailersOnly(stream, Status.UNIMPLEMENTED, `the server does not implement the method ${path}`);
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      return trailersOnly(stream, Status.UNIMPLEMENTED, `message encoding "${encoding}" is not supported; send identity`, ['grpc-accept-encoding', 'identity']);
    }
    let timeoutMs: number | undefined;
    try {
      timeoutMs = parseTimeout(headers['grpc-timeout']);
    } catch (err) {
      return trailersOnly(stream, (err as GrpcError).code, (err as GrpcError).message);
    }
    const decoder = new MessageDecoder(this.options.maxReceiveMessageBytes, held);
    const call = new Call(stream, path, headers, timeoutMs, () => decoder.release());
    if (route.kind === 'unary') this.runUnary(call, decoder, route.handler);
    else this.runStream(call, decoder, route.handler);
  }

  private runUnary(call: Call, decoder: MessageDecoder, handler: UnaryHandler): void {
    let request: Buffer | undefined;
    let count = 0;
    call.stream.ondata = (chunk) => {
      if (call.done) return;
      try {
        for (const m of decoder.push(chunk)) {
          request = m;
          count++;
        }
      } catch (err) {
        call.fail(err as GrpcError);
      }
    };
    call.stream.onend = () => {
      if (call.done) return;
      if (decoder.partial) return call.fail(new GrpcError(Status.INTERNAL, 'the request ended in the middle of a message'));
      if (count !== 1 || request === undefined) return call.fail(new GrpcError(Status.UNIMPLEMENTED, `a unary call takes exactly one request message, received ${count}`));
      let result: Uint8Array | Promise<Uint8Array>;
      try {
        result = handler(request, call);
      } catch (err) {
        return this.handlerFailed(call, err);
      }
      if (result instanceof Uint8Array) call.reply(result);
      else
        result.then(
          (bytes) => call.reply(bytes),
          (err: unknown) => this.handlerFailed(call, err),
        );
    };
  }

  private runStream(call: Call, decoder: MessageDecoder, handler: StreamHandler): void {
    let listener: StreamListener;
    try {
      listener = handler(call);
    } catch (err) {
      return this.handlerFailed(call, err);
    }
    call.onCancel = () => listener.cancel();
    call.stream.ondata = (chunk) => {
      if (call.done) return;
      try {
        for (const m of decoder.push(chunk)) {
          listener.message(m);
          if (call.done) return;
        }
      } catch (err) {
        if (err instanceof GrpcError) call.fail(err);
        else this.handlerFailed(call, err);
      }
    };
    call.stream.onend = () => {
      if (call.done) return;
      if (decoder.partial) return call.fail(new GrpcError(Status.INTERNAL, 'the request stream ended in the middle of a message'));
      try {
        listener.halfClose();
      } catch (err) {
        this.handlerFailed(call, err);
      }
    };
  }

  private handlerFailed(call: Call, err: unknown): void {
    if (err instanceof GrpcError) return call.fail(err);
    this.options.onHandlerError?.(err, call.path);
    call.fail(new GrpcError(Status.INTERNAL, 'internal error'));
  }
}

/** One call's state; the single place that writes to its HTTP/2 stream. */
class Call implements StreamCall {
  done = false;
  onCancel: (() => void) | undefined;
  readonly deadline: number | undefined;
  private headersSent = false;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly stream: ServerStream,
    readonly path: string,
    readonly metadata: RequestHeaders,
    timeoutMs: number | undefined,
    /** Called once when the call is over (its request bytes no longer count). */
    private release: (() => void) | undefined,
  ) {
    if (timeoutMs !== undefined) {
      this.deadline = Date.now() + timeoutMs;
      this.timer = setTimeout(() => this.fail(new GrpcError(Status.DEADLINE_EXCEEDED, 'deadline exceeded')), timeoutMs);
    }
    // The client reset the stream or the connection went away before the call ended.
    stream.onclose = () => {
      if (!this.done) this.finish();
    };
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.done) this.controller.abort();
    return this.controller.signal;
  }

  /** Unary success: headers, the one message, OK trailers. */
  reply(message: Uint8Array): void {
    if (this.done) return;
    if (this.stream.closed) return this.finish();
    this.settle();
    this.stream.respond(RESPONSE_BLOCK);
    this.stream.write(frame(message));
    this.stream.end(OK_TRAILERS_BLOCK);
  }

  send(message: Uint8Array): boolean {
    if (this.done || this.stream.closed) return false;
    this.respondOnce();
    this.stream.write(frame(message));
    return true;
  }

  end(error?: GrpcError): void {
    // The handler ends the call itself: it is not told it was cancelled.
    this.onCancel = undefined;
    if (error !== undefined) return this.fail(error);
    if (this.done) return;
    if (this.stream.closed) return this.finish();
    this.settle();
    this.respondOnce();
    this.stream.end(OK_TRAILERS_BLOCK);
  }

  /** Ends the call with an error status (trailers-only when nothing was sent yet). */
  fail(error: GrpcError): void {
    if (this.done) return;
    const nothingSent = !this.headersSent;
    this.finish();
    if (this.stream.closed) return;
    const status = ['grpc-status', String(error.code), 'grpc-message', encodeGrpcMessage(error.message)];
    if (nothingSent) this.stream.respond(hpack.encode([...RESPONSE_HEADERS, ...status]), true);
    else this.stream.end(hpack.encode(status));
  }

  private respondOnce(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond(RESPONSE_BLOCK);
  }

  /** Marks the call over without answering (the caller answers, or nobody can be answered). */
  private finish(): void {
    this.settle();
    this.controller?.abort();
    const cancel = this.onCancel;
    this.onCancel = undefined;
    cancel?.();
  }

  /** The call is over: no more timer, and what it held is let go. */
  private settle(): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}

function respondHttp(stream: ServerStream, status: number): void {
  stream.respond(hpack.encode([':status', String(status)]), true);
}

function trailersOnly(stream: ServerStream, code: StatusCode, message: string, extra: readonly string[] = []): void {
  stream.respond(hpack.encode([...RESPONSE_HEADERS, 'grpc-status', String(code), 'grpc-message', encodeGrpcMessage(message), ...extra]), true);
}
