import { createRequire } from 'node:module';
import * as http2 from 'node:http2';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthService } from '../../src/envoy/health.js';
import { GrpcServer, type GrpcServerOptions, type StreamCall } from '../../src/grpc/server.js';
import { GrpcError, Status, encodeGrpcMessage, parseTimeout } from '../../src/grpc/status.js';

/**
 * The gRPC layer against real clients: @grpc/grpc-js (as tests, remote guardians and Envoy's
 * Google-gRPC client would use it) for the protocol features, and a raw node:http2 client
 * for frames grpc-js never sends (bad prefixes, compression, split messages).
 */

// Byte-level methods: the handlers see and send raw message bytes, so a pass-through codec.
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const ECHO = '/test.Echo/Unary';
const STREAM = '/test.Echo/Stream';

let server: GrpcServer | undefined;
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close(100);
  server = undefined;
});

async function start(setup: (s: GrpcServer) => void, options: Partial<GrpcServerOptions> = {}): Promise<number> {
  server = new GrpcServer(options);
  setup(server);
  return server.listen('127.0.0.1', 0);
}

function client(port: number): grpc.Client {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
  clients.push(c);
  return c;
}

function unary(c: grpc.Client, path: string, message: Buffer, options: grpc.CallOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    c.makeUnaryRequest(path, raw.serialize, raw.deserialize, message, new grpc.Metadata(), options, (err, res) => (err ? reject(err) : resolve(res!))),
  );
}

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

/** A raw HTTP/2 request: returns status headers, trailers and the body bytes. */
function rawCall(port: number, headers: http2.OutgoingHttpHeaders, chunks: Buffer[]): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const body: Buffer[] = [];
    req.on('response', (h) => (head = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d: Buffer) => body.push(d));
    req.on('end', () => {
      session.close();
      resolve({ headers: head, trailers, body: Buffer.concat(body) });
    });
    req.on('error', reject);
    // Separate writes become separate DATA frames.
    const writeNext = (i: number): void => {
      if (i === chunks.length) return void req.end();
      req.write(chunks[i], () => setImmediate(() => writeNext(i + 1)));
    };
    writeNext(0);
  });
}

function framed(message: Buffer, flag = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

const status = (r: { headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }) => Number(r.trailers['grpc-status'] ?? r.headers['grpc-status']);

describe('gRPC server with a grpc-js client (interop)', () => {
  it('answers unary calls, with large messages both ways', async () => {
    const port = await start((s) => s.unary(ECHO, (req) => Buffer.concat([Buffer.from('echo:'), req])));
    const c = client(port);
    expect((await unary(c, ECHO, Buffer.from('hi'))).toString()).toBe('echo:hi');
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    const back = await unary(c, ECHO, big);
    expect(back.length).toBe(big.length + 5);
    expect(back.subarray(5).equals(big)).toBe(true);
    expect((await unary(c, ECHO, Buffer.alloc(0))).toString()).toBe('echo:');
  });

  it('answers async handlers and keeps concurrent calls apart', async () => {
    const port = await start((s) => s.unary(ECHO, async (req) => new Promise<Buffer>((r) => setTimeout(() => r(req), Math.random() * 20))));
    const c = client(port);
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => unary(c, ECHO, Buffer.from(`m${i}`))));
    expect(replies.map((b) => b.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
  });

  it('refuses messages above the maximum with RESOURCE_EXHAUSTED', async () => {
    const port = await start((s) => s.unary(ECHO, (req) => req), { maxReceiveMessageBytes: 1024 });
    const err = await failure(unary(client(port), ECHO, Buffer.alloc(1025)));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toContain('1025 vs. 1024');
  });

  it('answers UNIMPLEMENTED for a method it does not serve', async () => {
    const port = await start((s) => s.unary(ECHO, (req) => req));
    const err = await failure(unary(client(port), '/test.Echo/Nope', Buffer.from('x')));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain('/test.Echo/Nope');
  });

  it('passes GrpcError statuses through and hides other handler errors as INTERNAL', async () => {
    const seen: unknown[] = [];
    const port = await start(
      (s) =>
        s.unary(ECHO, (req) => {
          if (req.toString() === 'bad') throw new GrpcError(Status.INVALID_ARGUMENT, 'bad request: ünïcode 100%');
          throw new Error('secret internals');
        }),
      { onHandlerError: (err) => seen.push(err) },
    );
    const c = client(port);
    const bad = await failure(unary(c, ECHO, Buffer.from('bad')));
    expect([bad.code, bad.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'bad request: ünïcode 100%']);
    const internal = await failure(unary(c, ECHO, Buffer.from('x')));
    expect([internal.code, internal.details]).toEqual([grpc.status.INTERNAL, 'internal error']);
    expect(seen).toHaveLength(1);
  });

  it('ends a call at its deadline with DEADLINE_EXCEEDED and aborts the handler', async () => {
    let aborted = false;
    const port = await start((s) =>
      s.unary(ECHO, (_req, call) => {
        call.signal.addEventListener('abort', () => (aborted = true));
        expect(call.deadline).toBeGreaterThan(Date.now());
        return new Promise<Buffer>((r) => setTimeout(() => r(Buffer.from('late')), 500));
      }),
    );
    const err = await failure(unary(client(port), ECHO, Buffer.from('x'), { deadline: Date.now() + 100 }));
    expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await new Promise((r) => setTimeout(r, 150));
    expect(aborted).toBe(true);
  });

  it('sees a client cancellation', async () => {
    let resolveAborted: () => void = () => {};
    const aborted = new Promise<void>((r) => (resolveAborted = r));
    const port = await start((s) =>
      s.unary(ECHO, (_req, call) => {
        call.signal.addEventListener('abort', () => resolveAborted());
        return new Promise<Buffer>(() => {});
      }),
    );
    const c = client(port);
    const call = c.makeUnaryRequest(ECHO, raw.serialize, raw.deserialize, Buffer.from('x'), () => {});
    setTimeout(() => call.cancel(), 50);
    await aborted;
  });

  it('streams both ways, in order, and ends with the handler’s status', async () => {
    const port = await start((s) =>
      s.stream(STREAM, (call: StreamCall) => ({
        message: (m) => {
          if (m.toString() === 'stop') return call.end(new GrpcError(Status.FAILED_PRECONDITION, 'stopped'));
          call.send(Buffer.from(m.toString().toUpperCase()));
        },
        halfClose: () => call.end(),
        cancel: () => {},
      })),
    );
    const c = client(port);
    const run = (messages: string[]) =>
      new Promise<{ got: string[]; err: grpc.ServiceError | null }>((resolve) => {
        const got: string[] = [];
        const s = c.makeBidiStreamRequest(STREAM, raw.serialize, raw.deserialize);
        s.on('data', (d: Buffer) => got.push(d.toString()));
        s.on('error', (err: grpc.ServiceError) => resolve({ got, err }));
        s.on('status', (st: grpc.StatusObject) => st.code === grpc.status.OK && resolve({ got, err: null }));
        for (const m of messages) s.write(Buffer.from(m));
        s.end();
      });
    expect(await run(['a', 'b', 'c'])).toEqual({ got: ['A', 'B', 'C'], err: null });
    const stopped = await run(['a', 'stop', 'c']);
    expect(stopped.got).toEqual(['A']);
    expect([stopped.err?.code, stopped.err?.details]).toEqual([grpc.status.FAILED_PRECONDITION, 'stopped']);
  });

  it('tells a stream handler when the client cancels', async () => {
    let cancelled: () => void = () => {};
    const wasCancelled = new Promise<void>((r) => (cancelled = r));
    const port = await start((s) =>
      s.stream(STREAM, (call) => ({ message: (m) => call.send(m), halfClose: () => {}, cancel: () => cancelled() })),
    );
    const s = client(port).makeBidiStreamRequest(STREAM, raw.serialize, raw.deserialize);
    s.on('error', () => {});
    s.write(Buffer.from('x'));
    await new Promise<void>((r) => s.once('data', () => r()));
    s.cancel();
    await wasCancelled;
  });

  it('serves grpc.health.v1 Check and Watch to a grpc-js health client', async () => {
    const health = new HealthService({ '': 'SERVING', 'envoy.service.auth.v3.Authorization': 'SERVING' });
    const port = await start((s) => health.register(s));
    const proto = join(dirname(createRequire(import.meta.url).resolve('grpc-health-check/package.json')), 'proto', 'health', 'v1', 'health.proto');
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(proto, { enums: String })) as unknown as {
      grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    };
    const h = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Check(req: object, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
      Watch(req: object): grpc.ClientReadableStream<{ status: string }>;
    };
    clients.push(h);
    const checkStatus = (service: string) => new Promise<string>((resolve, reject) => h.Check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))));
    expect(await checkStatus('')).toBe('SERVING');
    expect(await checkStatus('envoy.service.auth.v3.Authorization')).toBe('SERVING');
    expect((await failure(checkStatus('nope'))).code).toBe(grpc.status.NOT_FOUND);

    const watch = h.Watch({ service: '' });
    watch.on('error', () => {});
    const seen: string[] = [];
    await new Promise<void>((resolve) =>
      watch.on('data', (d: { status: string }) => {
        seen.push(d.status);
        if (seen.length === 1) health.setAll('NOT_SERVING');
        if (seen.length === 2) resolve();
      }),
    );
    expect(seen).toEqual(['SERVING', 'NOT_SERVING']);
    expect(await checkStatus('')).toBe('NOT_SERVING');
    watch.cancel();
  });

  it('finishes in-flight calls on close, refuses new ones, and closes idle connections', async () => {
    const port = await start((s) => s.unary(ECHO, (req) => new Promise<Buffer>((r) => setTimeout(() => r(req), 200))));
    const c = client(port);
    const inFlight = unary(c, ECHO, Buffer.from('finish me'));
    await new Promise((r) => setTimeout(r, 50));
    const closed = server!.close(2000);
    server = undefined;
    expect((await inFlight).toString()).toBe('finish me');
    await closed;
    const err = await failure(unary(c, ECHO, Buffer.from('x'), { deadline: Date.now() + 500 }));
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(err.code);
  });
});

describe('gRPC server on connections accepted elsewhere (serve --workers)', () => {
  it('serves handed-over connections, and close waits for their in-flight calls', async () => {
    server = new GrpcServer();
    server.unary(ECHO, (req) => new Promise<Buffer>((r) => setTimeout(() => r(req), 200)));
    const own = server;
    // Another server accepts and hands each socket over before a byte is read, as a worker
    // gets it from the primary's balancer.
    const front = createServer((socket) => own.accept(socket));
    const port = await new Promise<number>((resolve) => front.listen(0, '127.0.0.1', () => resolve((front.address() as AddressInfo).port)));
    try {
      const c = client(port);
      expect((await unary(c, ECHO, Buffer.from('first'))).toString()).toBe('first');
      const inFlight = unary(c, ECHO, Buffer.from('finish me'));
      await new Promise((r) => setTimeout(r, 50));
      let closedAt = 0;
      const closed = own.close(2000).then(() => (closedAt = Date.now()));
      server = undefined;
      expect((await inFlight).toString()).toBe('finish me');
      const answeredAt = Date.now();
      await closed;
      expect(closedAt).toBeGreaterThanOrEqual(answeredAt);
    } finally {
      for (const c of clients.splice(0)) c.close();
      await new Promise((resolve) => front.close(resolve));
    }
  });
});

describe('gRPC server with frames grpc-js never sends', () => {
  const echo = (s: GrpcServer) => s.unary(ECHO, (req) => req);

  it('bounds the unfinished message bytes one connection may leave with its calls, and lets go of them when a call ends', async () => {
    const port = await start(echo, { maxUnfinishedBytesPerConnection: 1024 * 1024 });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      // Three calls, each announcing a 600,000-byte message and sending 500,000 bytes of it: 1.5 MB held.
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(600_000, 1);
      const calls = [0, 1, 2].map(() => {
        const req = session.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc', te: 'trailers' });
        req.write(Buffer.concat([prefix, Buffer.alloc(500_000, 1)]));
        return new Promise<string | undefined>((resolve) => {
          req.on('trailers', (t) => resolve(String(t['grpc-status'])));
          req.on('response', (h) => h['grpc-status'] !== undefined && resolve(String(h['grpc-status'])));
          req.on('error', () => resolve(undefined));
          req.resume();
        });
      });
      // The call that takes the connection past 1 MiB fails; the others wait for the rest of their message.
      const first = await Promise.race(calls);
      expect(first).toBe(String(Status.RESOURCE_EXHAUSTED));
      // The two waiting calls hold 1,000,010 bytes: a 40,005-byte call (3 DATA frames) fits only if the failed one let go of its own.
      const answered = await new Promise<Buffer>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc', te: 'trailers' });
        const body: Buffer[] = [];
        req.on('data', (d: Buffer) => body.push(d));
        req.on('end', () => resolve(Buffer.concat(body)));
        req.on('error', reject);
        req.end(framed(Buffer.alloc(40_000, 2)));
      });
      expect(answered.length).toBe(40_005);
    } finally {
      session.destroy();
    }
  });

  it('reassembles a message split across many DATA frames, one byte each', async () => {
    const port = await start(echo);
    const whole = framed(Buffer.from('split across frames'));
    const r = await rawCall(port, {}, [...whole].map((b) => Buffer.from([b])));
    expect(status(r)).toBe(0);
    expect(r.body.subarray(5).toString()).toBe('split across frames');
  });

  it('refuses a compressed message with INTERNAL and an unsupported grpc-encoding with UNIMPLEMENTED', async () => {
    const port = await start(echo);
    const compressed = await rawCall(port, {}, [framed(Buffer.from('x'), 1)]);
    expect(status(compressed)).toBe(Status.INTERNAL);
    const gzip = await rawCall(port, { 'grpc-encoding': 'gzip' }, [framed(Buffer.from('x'), 1)]);
    expect(status(gzip)).toBe(Status.UNIMPLEMENTED);
    expect(gzip.headers['grpc-accept-encoding']).toBe('identity');
  });

  it('refuses a stream that ends mid-message, zero or two messages on a unary call, and a bad flag', async () => {
    const port = await start(echo);
    expect(status(await rawCall(port, {}, [framed(Buffer.from('abcdef')).subarray(0, 8)]))).toBe(Status.INTERNAL);
    expect(status(await rawCall(port, {}, []))).toBe(Status.UNIMPLEMENTED);
    expect(status(await rawCall(port, {}, [Buffer.concat([framed(Buffer.from('a')), framed(Buffer.from('b'))])]))).toBe(Status.UNIMPLEMENTED);
    expect(status(await rawCall(port, {}, [framed(Buffer.from('a'), 7)]))).toBe(Status.INTERNAL);
  });

  it('answers HTTP 405 to a non-POST, 415 to a non-gRPC content type, and a malformed grpc-timeout as INTERNAL', async () => {
    const port = await start(echo);
    expect((await rawCall(port, { ':method': 'GET' }, [])).headers[':status']).toBe(405);
    expect((await rawCall(port, { 'content-type': 'text/plain' }, [framed(Buffer.from('a'))])).headers[':status']).toBe(415);
    expect((await rawCall(port, { 'content-type': 'application/grpc+proto' }, [framed(Buffer.from('a'))])).headers[':status']).toBe(200);
    const r = await rawCall(port, { 'grpc-timeout': '1x' }, [framed(Buffer.from('a'))]);
    expect(status(r)).toBe(Status.INTERNAL);
    expect(decodeURIComponent(String(r.headers['grpc-message']))).toContain('grpc-timeout');
  });

  it('survives a client that resets streams and connections mid-call', async () => {
    const port = await start((s) => s.unary(ECHO, (req) => new Promise<Buffer>((r) => setTimeout(() => r(req), 30))));
    for (let i = 0; i < 20; i++) {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', () => {});
      const req = session.request({ ':method': 'POST', ':path': ECHO, 'content-type': 'application/grpc' });
      req.on('error', () => {});
      req.end(framed(Buffer.from('x')));
      if (i % 2 === 0) req.close(http2.constants.NGHTTP2_CANCEL);
      else session.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect((await unary(client(port), ECHO, Buffer.from('still up'))).toString()).toBe('still up');
  });
});

describe('gRPC header encodings', () => {
  it('parses every grpc-timeout unit and refuses malformed ones', () => {
    expect([parseTimeout('2H'), parseTimeout('3M'), parseTimeout('4S'), parseTimeout('200m'), parseTimeout('1500u'), parseTimeout('2000000n')]).toEqual([
      7_200_000, 180_000, 4000, 200, 1.5, 2,
    ]);
    expect(parseTimeout(undefined)).toBeUndefined();
    for (const bad of ['', '1', 'm', '123456789m', '-1m', '1.5S', '1 S']) expect(() => parseTimeout(bad)).toThrow(GrpcError);
  });

  it('percent-encodes grpc-message outside printable ASCII, the percent sign and spaces at either end', () => {
    expect(encodeGrpcMessage('plain text')).toBe('plain text');
    expect(encodeGrpcMessage('100% ü\n')).toBe('100%25 %C3%BC%0A');
    // An HTTP/2 field value may not start or end with whitespace.
    expect(encodeGrpcMessage(' padded ')).toBe('%20padded%20');
    expect(encodeGrpcMessage(' ')).toBe('%20');
    expect(encodeGrpcMessage('')).toBe('');
  });
});
