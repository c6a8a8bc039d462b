import * as http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { frame, MessageDecoder } from './framing.js';
import { encodeGrpcMessage, GrpcError, parseTimeout, Status, type StatusCode } from './status.js';

/**
 * A small gRPC server on node:http2 (h2c), for the calls Envoy makes: unary (ext_authz Check,
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
  readonly metadata: http2.IncomingHttpHeaders;
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
  keepaliveIntervalMs: 60_000,
  keepaliveTimeoutMs: 20_000,
  maxConcurrentStreams: 1000,
};

type Route = { kind: 'unary'; handler: UnaryHandler } | { kind: 'stream'; handler: StreamHandler };

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' } as const;
const OK_TRAILERS = { 'grpc-status': '0' } as const;
const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;

export class GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly server: http2.Http2Server;
  private readonly options: GrpcServerOptions;
  private closing = false;
  /** Set by close: called as sessions end. */
  private drained: (() => void) | undefined;

  constructor(options: Partial<GrpcServerOptions> = {}) {
    this.options = { ...DEFAULT_SERVER_OPTIONS, ...options };
    this.server = http2.createServer({
      settings: { maxConcurrentStreams: this.options.maxConcurrentStreams, initialWindowSize: 1024 * 1024 },
    });
    this.server.on('session', (session) => this.onSession(session));
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    // Connection-level failures (a peer that is not HTTP/2, a reset socket) end that connection only.
    this.server.on('sessionError', () => {});
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
   * Serves a connection accepted elsewhere (`serve --workers`: the primary's balancer hands it
   * over); it has not been read from.
   */
  accept(socket: Socket): void {
    if (this.closing) socket.destroy();
    else this.server.emit('connection', socket);
  }

  /**
   * Graceful: stop accepting connections, send GOAWAY on every connection so clients open
   * new streams elsewhere, let in-flight calls finish for up to `graceMs`, then cut the rest.
   * Waits for every session, accepted ones included (a server that never listened does not
   * count those as its connections).
   */
  close(graceMs = 5000): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      const force = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, graceMs);
      force.unref();
      let serverClosed = false;
      this.drained = () => {
        if (!serverClosed || this.sessions.size > 0) return;
        clearTimeout(force);
        resolve();
      };
      this.server.close(() => {
        serverClosed = true;
        this.drained?.();
      });
      for (const s of this.sessions) s.close();
    });
  }

  private onSession(session: http2.ServerHttp2Session): void {
    this.sessions.add(session);
    session.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    if (this.options.keepaliveIntervalMs > 0) {
      timer = setInterval(() => {
        const timeout = setTimeout(() => session.destroy(), this.options.keepaliveTimeoutMs);
        timeout.unref();
        const sent = session.ping((err) => {
          clearTimeout(timeout);
          if (err) session.destroy();
        });
        if (!sent) clearTimeout(timeout);
      }, this.options.keepaliveIntervalMs);
      timer.unref();
    }
    session.once('close', () => {
      this.sessions.delete(session);
      if (timer) clearInterval(timer);
      this.drained?.();
    });
    if (this.closing) session.close();
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    if (headers[':method'] !== 'POST') {
      respondHttp(stream, 405);
      return;
    }
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !/^application\/grpc(?:$|[+;])/.test(contentType)) {
      respondHttp(stream, 415);
      return;
    }
    const path = headers[':path'] ?? '';
    const route = this.routes.get(path);
    if (route === undefined) {
      trailersOnly(stream, Status.UNIMPLEMENTED, `the server does not implement the method ${path}`);
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      trailersOnly(stream, Status.UNIMPLEMENTED, `message encoding "${String(encoding)}" is not supported; send identity`, { 'grpc-accept-encoding': 'identity' });
      return;
    }
    let timeoutMs: number | undefined;
    try {
      timeoutMs = parseTimeout(headers['grpc-timeout']);
    } catch (err) {
      trailersOnly(stream, (err as GrpcError).code, (err as GrpcError).message);
      return;
    }
    const call = new Call(stream, path, headers, timeoutMs);
    if (route.kind === 'unary') this.runUnary(call, route.handler);
    else this.runStream(call, route.handler);
  }

  private runUnary(call: Call, handler: UnaryHandler): void {
    const decoder = new MessageDecoder(this.options.maxReceiveMessageBytes);
    let request: Buffer | undefined;
    let count = 0;
    const stream = call.stream;
    stream.on('data', (chunk: Buffer) => {
      if (call.done) return;
      try {
        for (const m of decoder.push(chunk)) {
          request = m;
          count++;
        }
      } catch (err) {
        call.fail(err as GrpcError);
      }
    });
    stream.once('end', () => {
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
    });
  }

  private runStream(call: Call, handler: StreamHandler): void {
    const decoder = new MessageDecoder(this.options.maxReceiveMessageBytes);
    let listener: StreamListener;
    try {
      listener = handler(call);
    } catch (err) {
      return this.handlerFailed(call, err);
    }
    call.onCancel = () => listener.cancel();
    call.stream.on('data', (chunk: Buffer) => {
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
    });
    call.stream.once('end', () => {
      if (call.done) return;
      if (decoder.partial) return call.fail(new GrpcError(Status.INTERNAL, 'the request stream ended in the middle of a message'));
      try {
        listener.halfClose();
      } catch (err) {
        this.handlerFailed(call, err);
      }
    });
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
  private trailers: Record<string, string> = OK_TRAILERS;
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly path: string,
    readonly metadata: http2.IncomingHttpHeaders,
    timeoutMs: number | undefined,
  ) {
    if (timeoutMs !== undefined) {
      this.deadline = Date.now() + timeoutMs;
      this.timer = setTimeout(() => this.fail(new GrpcError(Status.DEADLINE_EXCEEDED, 'deadline exceeded')), timeoutMs);
    }
    stream.once('close', () => {
      if (this.done) return;
      // The client reset the stream or the connection went away before the call ended.
      this.finish();
    });
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    if (this.done) this.controller.abort();
    return this.controller.signal;
  }

  /** Unary success: headers, the one message, OK trailers. */
  reply(message: Uint8Array): void {
    if (this.done) return;
    if (this.stream.destroyed) return this.finish();
    this.done = true;
    this.clearTimer();
    this.stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(OK_TRAILERS));
    this.stream.end(frame(message));
  }

  send(message: Uint8Array): boolean {
    if (this.done || this.stream.destroyed) return false;
    this.respondOnce();
    this.stream.write(frame(message));
    return true;
  }

  end(error?: GrpcError): void {
    // The handler ends the call itself: it is not told it was cancelled.
    this.onCancel = undefined;
    if (error !== undefined) return this.fail(error);
    if (this.done) return;
    if (this.stream.destroyed) return this.finish();
    this.done = true;
    this.clearTimer();
    this.respondOnce();
    this.stream.end();
  }

  /** Ends the call with an error status (trailers-only when nothing was sent yet). */
  fail(error: GrpcError): void {
    if (this.done) return;
    const nothingSent = !this.headersSent;
    this.finish();
    if (this.stream.destroyed || this.stream.closed) return;
    const status: Record<string, string> = { 'grpc-status': String(error.code), 'grpc-message': encodeGrpcMessage(error.message) };
    if (nothingSent) {
      this.stream.respond({ ...RESPONSE_HEADERS, ...status }, { endStream: true });
    } else {
      this.trailers = status;
      this.stream.end();
    }
  }

  private respondOnce(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    this.stream.respond(RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
    this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.trailers));
  }

  /** Marks the call over without answering (the caller answers, or nobody can be answered). */
  private finish(): void {
    this.done = true;
    this.clearTimer();
    this.controller?.abort();
    const cancel = this.onCancel;
    this.onCancel = undefined;
    cancel?.();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function respondHttp(stream: http2.ServerHttp2Stream, status: number): void {
  if (!stream.destroyed) stream.respond({ ':status': status }, { endStream: true });
}

function trailersOnly(stream: http2.ServerHttp2Stream, code: StatusCode, message: string, extra: Record<string, string> = {}): void {
  if (stream.destroyed) return;
  stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message), ...extra }, { endStream: true });
}
