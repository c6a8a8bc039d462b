import { afterEach, describe, expect, it } from 'vitest';
import { GrpcServer, type GrpcServerOptions } from '../../src/grpc/server.js';
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  Flags,
  FrameType,
  MAX_WINDOW_SIZE,
  PREFACE,
  Setting,
  connectRaw,
  dataOf,
  describeFrame,
  encodeHeaders,
  frame,
  grpcMessage,
  grpcRequest,
  headerFrames,
  headersOf,
  increment,
  padded,
  parseGoaway,
  ping,
  readResponse,
  requestFrames,
  requestHeaders,
  rstCode,
  rstStream,
  settingsFrame,
  windowUpdate,
  type Frame,
  type HeaderList,
  type RawConnection,
} from './wire-client.js';

/**
 * HTTP/2 conformance of the gRPC server's transport (RFC 9113), driven over a raw TCP socket
 * frame by frame, so it holds whatever implements the transport: connection errors end in
 * GOAWAY with the right code and last-stream-id, stream errors in RST_STREAM with the
 * connection still serving, flow control in both directions, the limits that stop floods,
 * graceful shutdown and keepalive.
 */

const ECHO = '/test.Echo/Unary';
/** A streaming route that never answers: holds streams open until they are reset. */
const HANG = '/test.Echo/Hang';
/** A unary route answered when the test says so (graceful close). */
const HELD = '/test.Echo/Held';

let server: GrpcServer | undefined;
const conns: RawConnection[] = [];
/** Streams the HANG handler saw (the rapid-reset test counts them). */
let hangCalls = 0;
/** Calls the ECHO handler answered (the backpressure test counts them). */
let echoCalls = 0;
let heldEntered: Promise<void>;
let release: () => void = () => {};

afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  release();
  await server?.close(100);
  server = undefined;
});

async function start(options: Partial<GrpcServerOptions> = {}): Promise<number> {
  hangCalls = 0;
  echoCalls = 0;
  let entered: () => void = () => {};
  heldEntered = new Promise<void>((r) => (entered = r));
  const held = new Promise<void>((r) => (release = r));
  server = new GrpcServer(options)
    .unary(ECHO, (req) => {
      echoCalls++;
      return req;
    })
    .unary(HELD, async (req) => {
      entered();
      await held;
      return req;
    })
    .stream(HANG, () => {
      hangCalls++;
      return { message: () => {}, halfClose: () => {}, cancel: () => {} };
    });
  return server.listen('127.0.0.1', 0);
}

async function open(port: number, settings: Record<number, number> = {}, opening?: Buffer): Promise<RawConnection> {
  const conn = await connectRaw(port, settings, opening);
  conns.push(conn);
  return conn;
}

/** A started server and a connection past the SETTINGS exchange; `settings` are the server's. */
async function ready(options: Partial<GrpcServerOptions> = {}, ours: Record<number, number> = {}): Promise<{ conn: RawConnection; settings: Map<number, number> }> {
  const conn = await open(await start(options), ours);
  const settings = await conn.handshake();
  return { conn, settings };
}

const isType = (type: number, streamId?: number) => (f: Frame) => f.type === type && (streamId === undefined || f.streamId === streamId);
const onStream = (streamId: number) => (f: Frame) => f.streamId === streamId;

/** A connection error: GOAWAY with `code` (and `lastStreamId` if given), then the socket closes. */
async function expectGoaway(conn: RawConnection, code: number, lastStreamId?: number): Promise<void> {
  const goaway = parseGoaway(await conn.waitFor(FrameType.GOAWAY));
  expect(goaway.code, `GOAWAY code (debug data: "${goaway.debug}")`).toBe(code);
  if (lastStreamId !== undefined) expect(goaway.lastStreamId, 'GOAWAY last-stream-id').toBe(lastStreamId);
  await conn.waitClosed();
}

/** A stream error: the first frame the server sends on the stream is RST_STREAM with `code`. */
async function expectReset(conn: RawConnection, streamId: number, code: number): Promise<void> {
  const f = await conn.next(onStream(streamId));
  expect(f.type, describeFrame(f)).toBe(FrameType.RST_STREAM);
  expect(rstCode(f), 'RST_STREAM code').toBe(code);
}

/** A full unary echo on `streamId`: 200, the message back, OK trailers. */
async function expectEcho(conn: RawConnection, streamId: number, message = Buffer.from(`echo on stream ${streamId}`)): Promise<void> {
  conn.send(requestFrames(streamId, ECHO, message));
  const res = await readResponse(conn, streamId);
  expect(res.reset, 'RST_STREAM code').toBeUndefined();
  expect(res.headers).toMatchObject({ ':status': '200', 'content-type': 'application/grpc' });
  expect(res.data.equals(grpcMessage(message)), 'echoed bytes').toBe(true);
  expect(res.trailers).toMatchObject({ 'grpc-status': '0' });
}

describe('HTTP/2 transport: the happy path', () => {
  it('opens with its SETTINGS, ACKs ours, and answers with HEADERS, DATA, then trailers', async () => {
    const conn = await open(await start());
    const first = await conn.next();
    expect([first.type, first.flags & Flags.ACK, first.streamId]).toEqual([FrameType.SETTINGS, 0, 0]);
    conn.send(frame(FrameType.SETTINGS, Flags.ACK, 0));
    const ack = await conn.next(isType(FrameType.SETTINGS));
    expect([ack.flags, ack.payload.length]).toEqual([Flags.ACK, 0]);

    const message = Buffer.from('hello over raw frames');
    conn.send(requestFrames(1, ECHO, message));
    const res = await readResponse(conn, 1);
    const [head, ...rest] = res.frames;
    const trailers = rest.pop();
    expect([head?.type, (head?.flags ?? 0) & Flags.END_STREAM]).toEqual([FrameType.HEADERS, 0]);
    expect(rest.map((f) => f.type)).toEqual(rest.map(() => FrameType.DATA));
    expect([trailers?.type, (trailers?.flags ?? 0) & Flags.END_STREAM]).toEqual([FrameType.HEADERS, Flags.END_STREAM]);
    expect(res.headers).toMatchObject({ ':status': '200', 'content-type': 'application/grpc' });
    expect(res.data.equals(grpcMessage(message))).toBe(true);
    expect(res.trailers).toMatchObject({ 'grpc-status': '0' });
  });

  it('serves streams 1, 3 and 5 on one connection', async () => {
    const { conn } = await ready();
    await expectEcho(conn, 1);
    await expectEcho(conn, 3);
    await expectEcho(conn, 5);
  });

  it('reads a header block split over HEADERS and CONTINUATION frames', async () => {
    const { conn } = await ready();
    const { block, data } = grpcRequest(ECHO, Buffer.from('continued'));
    const a = Math.floor(block.length / 3);
    conn.send(
      frame(FrameType.HEADERS, 0, 1, block.subarray(0, a)),
      frame(FrameType.CONTINUATION, 0, 1, block.subarray(a, 2 * a)),
      frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(2 * a)),
      frame(FrameType.DATA, Flags.END_STREAM, 1, data),
    );
    const res = await readResponse(conn, 1);
    expect(res.headers?.[':status']).toBe('200');
    expect(res.data.equals(data)).toBe(true);
    expect(res.trailers?.['grpc-status']).toBe('0');
  });

  it('reads a message split over DATA frames, some of them PADDED', async () => {
    const { conn } = await ready();
    const message = Buffer.from('a message in four DATA frames, the gRPC prefix itself split');
    const { block, data } = grpcRequest(ECHO, message);
    conn.send(
      frame(FrameType.HEADERS, Flags.END_HEADERS, 1, block),
      frame(FrameType.DATA, 0, 1, data.subarray(0, 3)),
      frame(FrameType.DATA, Flags.PADDED, 1, padded(data.subarray(3, 20), 10)),
      frame(FrameType.DATA, Flags.PADDED, 1, padded(data.subarray(20, 40), 0)),
      frame(FrameType.DATA, Flags.PADDED | Flags.END_STREAM, 1, padded(data.subarray(40), 255)),
    );
    const res = await readResponse(conn, 1);
    expect(res.data.equals(data)).toBe(true);
    expect(res.trailers?.['grpc-status']).toBe('0');
  });

  it('reads HEADERS carrying the PRIORITY and PADDED flags', async () => {
    const { conn } = await ready();
    const { block, data } = grpcRequest(ECHO, Buffer.from('prioritised'));
    // Exclusive bit clear, depends on stream 0, weight 200; then the block and 7 bytes of padding.
    const priority = Buffer.from([0, 0, 0, 0, 200]);
    conn.send(
      frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.PADDED | Flags.PRIORITY, 1, padded(Buffer.concat([priority, block]), 7)),
      frame(FrameType.DATA, Flags.END_STREAM, 1, data),
    );
    const res = await readResponse(conn, 1);
    expect(res.data.equals(data)).toBe(true);
    expect(res.trailers?.['grpc-status']).toBe('0');
  });

  it('answers PING with a PING ACK carrying the same 8 bytes', async () => {
    const { conn } = await ready();
    const opaque = Buffer.from('8 bytes!');
    conn.send(ping(opaque));
    const pong = await conn.next((f) => f.type === FrameType.PING && (f.flags & Flags.ACK) !== 0);
    expect([pong.streamId, pong.payload.toString()]).toEqual([0, '8 bytes!']);
  });
});

describe('HTTP/2 transport: connection errors end in GOAWAY', () => {
  it('closes a connection that does not open with the preface', async () => {
    const conn = await open(await start(), {}, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await conn.waitClosed();
    const goaway = conn.received.find(isType(FrameType.GOAWAY));
    if (goaway) expect(parseGoaway(goaway).code).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR when the first frame after the preface is not SETTINGS', async () => {
    const conn = await open(await start(), {}, Buffer.concat([PREFACE, ping(Buffer.alloc(8))]));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR for HEADERS on stream 0', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 0, grpcRequest(ECHO, Buffer.alloc(0)).block));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR for a client stream with an even id', async () => {
    const { conn } = await ready();
    conn.send(requestFrames(2, ECHO, Buffer.from('x')));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR for a new stream with an id lower than one already used', async () => {
    const { conn } = await ready();
    await expectEcho(conn, 5);
    conn.send(requestFrames(3, ECHO, Buffer.from('x')));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR, 5);
  });

  it('GOAWAY names the highest stream the server processed as last-stream-id', async () => {
    const { conn } = await ready();
    await expectEcho(conn, 1);
    await expectEcho(conn, 3);
    conn.send(frame(FrameType.DATA, 0, 0, Buffer.from('x')));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR, 3);
  });

  it('FRAME_SIZE_ERROR for a HEADERS frame above the default SETTINGS_MAX_FRAME_SIZE', async () => {
    const { conn } = await ready();
    const block = encodeHeaders(requestHeaders(ECHO, [['x-pad', 'a'.repeat(DEFAULT_MAX_FRAME_SIZE)]]));
    expect(block.length).toBeGreaterThan(DEFAULT_MAX_FRAME_SIZE);
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, block));
    await expectGoaway(conn, ErrorCode.FRAME_SIZE_ERROR);
  });

  // One frame that breaks a rule, answered with GOAWAY and the rule's code.
  it.each([
    ['FRAME_SIZE_ERROR for SETTINGS whose length is not a multiple of 6', ErrorCode.FRAME_SIZE_ERROR, () => frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(7))],
    ['FRAME_SIZE_ERROR for a SETTINGS ACK with a payload', ErrorCode.FRAME_SIZE_ERROR, () => frame(FrameType.SETTINGS, Flags.ACK, 0, Buffer.alloc(6))],
    ['FLOW_CONTROL_ERROR for SETTINGS_INITIAL_WINDOW_SIZE 2^31', ErrorCode.FLOW_CONTROL_ERROR, () => settingsFrame({ [Setting.INITIAL_WINDOW_SIZE]: 2 ** 31 })],
    ['PROTOCOL_ERROR for SETTINGS_MAX_FRAME_SIZE below 16384', ErrorCode.PROTOCOL_ERROR, () => settingsFrame({ [Setting.MAX_FRAME_SIZE]: 100 })],
    ['PROTOCOL_ERROR for SETTINGS_ENABLE_PUSH 2', ErrorCode.PROTOCOL_ERROR, () => settingsFrame({ [Setting.ENABLE_PUSH]: 2 })],
    ['FRAME_SIZE_ERROR for a PING of 7 bytes', ErrorCode.FRAME_SIZE_ERROR, () => ping(Buffer.alloc(7))],
    ['PROTOCOL_ERROR for a PING on stream 1', ErrorCode.PROTOCOL_ERROR, () => frame(FrameType.PING, 0, 1, Buffer.alloc(8))],
    ['PROTOCOL_ERROR for a connection WINDOW_UPDATE of 0', ErrorCode.PROTOCOL_ERROR, () => windowUpdate(0, 0)],
    ['FLOW_CONTROL_ERROR for a WINDOW_UPDATE taking the connection window past 2^31-1', ErrorCode.FLOW_CONTROL_ERROR, () => windowUpdate(0, MAX_WINDOW_SIZE)],
  ])('%s', async (_title, code, bad) => {
    const { conn } = await ready();
    conn.send(bad());
    await expectGoaway(conn, code);
  });

  it('PROTOCOL_ERROR for a PUSH_PROMISE from the client', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcRequest(HANG, Buffer.alloc(0)).block));
    const promised = Buffer.from([0, 0, 0, 2]);
    conn.send(frame(FrameType.PUSH_PROMISE, Flags.END_HEADERS, 1, Buffer.concat([promised, encodeHeaders(requestHeaders(ECHO))])));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR for a CONTINUATION without HEADERS', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, grpcRequest(ECHO, Buffer.alloc(0)).block));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR for another frame between HEADERS and its CONTINUATION', async () => {
    const { conn } = await ready();
    const { block } = grpcRequest(ECHO, Buffer.alloc(0));
    conn.send(
      frame(FrameType.HEADERS, Flags.END_STREAM, 1, block.subarray(0, 10)),
      ping(Buffer.alloc(8)),
      frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(10)),
    );
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('COMPRESSION_ERROR for an undecodable header block (index 0)', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, Buffer.from([0x80])));
    await expectGoaway(conn, ErrorCode.COMPRESSION_ERROR);
  });

  it('PROTOCOL_ERROR for DATA on stream 0', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.DATA, 0, 0, Buffer.from('x')));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR for DATA on an idle stream', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.DATA, 0, 99, grpcMessage(Buffer.from('x'))));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });

  it('PROTOCOL_ERROR for RST_STREAM on an idle stream', async () => {
    const { conn } = await ready();
    conn.send(rstStream(1, ErrorCode.CANCEL));
    await expectGoaway(conn, ErrorCode.PROTOCOL_ERROR);
  });
});

describe('HTTP/2 transport: stream errors reset the stream and keep the connection', () => {
  const pseudo = requestHeaders(ECHO).filter(([name]) => name.startsWith(':'));
  const regular = requestHeaders(ECHO).filter(([name]) => !name.startsWith(':'));
  const malformed: [string, HeaderList][] = [
    ['an uppercase header name', [...pseudo, ...regular, ['X-Upper', '1']]],
    ['a pseudo-header after a regular header', [...pseudo.slice(0, -1), ...regular, pseudo.at(-1)!]],
    ['an unknown pseudo-header :foo', [...pseudo, [':foo', 'bar'], ...regular]],
    ['a duplicate :path', [...pseudo, [':path', ECHO], ...regular]],
    ['no :path', [...pseudo.filter(([name]) => name !== ':path'), ...regular]],
    ['connection: keep-alive', [...pseudo, ...regular, ['connection', 'keep-alive']]],
    ['te: gzip', [...pseudo, ...regular.filter(([name]) => name !== 'te'), ['te', 'gzip']]],
    ['a value containing CR LF', [...pseudo, ...regular, ['x-bad', 'a\r\nb']]],
    ['a value containing NUL', [...pseudo, ...regular, ['x-bad', 'a\0b']]],
  ];

  it.each(malformed)('PROTOCOL_ERROR for a request with %s', async (_name, headers) => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, encodeHeaders(headers)));
    await expectReset(conn, 1, ErrorCode.PROTOCOL_ERROR);
    await expectEcho(conn, 3);
  });

  it('STREAM_CLOSED for DATA after the client ended the stream (half-closed remote)', async () => {
    const { conn } = await ready();
    const { block, data } = grpcRequest(HANG, Buffer.from('x'));
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, block), frame(FrameType.DATA, Flags.END_STREAM, 1, data));
    conn.send(frame(FrameType.DATA, 0, 1, data));
    await expectReset(conn, 1, ErrorCode.STREAM_CLOSED);
    await expectEcho(conn, 3);
  });

  it('PROTOCOL_ERROR for a WINDOW_UPDATE of 0 on an open stream', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcRequest(HANG, Buffer.alloc(0)).block), windowUpdate(1, 0));
    await expectReset(conn, 1, ErrorCode.PROTOCOL_ERROR);
    await expectEcho(conn, 3);
  });

  it('PROTOCOL_ERROR for a content-length the DATA does not match', async () => {
    const { conn } = await ready();
    const data = grpcMessage(Buffer.from('fifteen bytes!!'));
    conn.send(
      frame(FrameType.HEADERS, Flags.END_HEADERS, 1, encodeHeaders(requestHeaders(ECHO, [['content-length', '10']]))),
      frame(FrameType.DATA, Flags.END_STREAM, 1, data),
    );
    await expectReset(conn, 1, ErrorCode.PROTOCOL_ERROR);
    await expectEcho(conn, 3);
  });

  it('PROTOCOL_ERROR for trailers without END_STREAM', async () => {
    const { conn } = await ready();
    const { block, data } = grpcRequest(ECHO, Buffer.from('x'));
    conn.send(
      frame(FrameType.HEADERS, Flags.END_HEADERS, 1, block),
      frame(FrameType.DATA, 0, 1, data),
      frame(FrameType.HEADERS, Flags.END_HEADERS, 1, encodeHeaders([['x-trailer', '1']])),
    );
    await expectReset(conn, 1, ErrorCode.PROTOCOL_ERROR);
    await expectEcho(conn, 3);
  });

  it('ignores what the client still sends on a stream the server answered early (DATA, trailers), and goes on', async () => {
    const { conn } = await ready();
    const { block, data } = grpcRequest('/test.Echo/Unknown', Buffer.from('x'));
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, block));
    // Trailers-only UNIMPLEMENTED, then RST_STREAM NO_ERROR: the client need not finish sending.
    const answer = await conn.next(isType(FrameType.HEADERS, 1));
    expect(answer.flags & Flags.END_STREAM).toBe(Flags.END_STREAM);
    expect(answer.headers).toEqual(expect.arrayContaining([['grpc-status', '12']]));
    await expectReset(conn, 1, ErrorCode.NO_ERROR);
    // Sent before the client heard: not errors.
    conn.send(frame(FrameType.DATA, 0, 1, data), frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, encodeHeaders([['x-trailer', '1']])));
    await expectEcho(conn, 3);
    expect(conn.received.some(isType(FrameType.GOAWAY))).toBe(false);
  });
});

describe('HTTP/2 transport: limits', () => {
  it('advertises MAX_CONCURRENT_STREAMS and refuses a stream above it with REFUSED_STREAM', async () => {
    const { conn, settings } = await ready({ maxConcurrentStreams: 2 });
    expect(settings.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(2);
    const { block } = grpcRequest(HANG, Buffer.alloc(0));
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, block), frame(FrameType.HEADERS, Flags.END_HEADERS, 3, block));
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 5, block));
    await expectReset(conn, 5, ErrorCode.REFUSED_STREAM);
    // Streams 1 and 3 are still open; freeing one makes room again.
    expect(conn.received.filter((f) => f.streamId === 1 || f.streamId === 3)).toEqual([]);
    conn.send(rstStream(1, ErrorCode.CANCEL));
    await expectEcho(conn, 7);
  });

  it('answers a rapid reset flood (CVE-2023-44487) with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const { conn } = await ready();
    const headers = frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcRequest(HANG, Buffer.alloc(0)).block);
    const count = 5000;
    const flood = Buffer.alloc(count * (headers.length + 13));
    for (let i = 0; i < count; i++) {
      const id = 2 * i + 1;
      const at = i * (headers.length + 13);
      headers.copy(flood, at);
      flood.writeUInt32BE(id, at + 5);
      rstStream(id, ErrorCode.CANCEL).copy(flood, at + headers.length);
    }
    conn.send(flood);
    await expectGoaway(conn, ErrorCode.ENHANCE_YOUR_CALM);
    expect(hangCalls).toBeLessThan(count);
  });

  it.each([
    ['empty DATA frames', (id: number) => frame(FrameType.DATA, 0, id, Buffer.alloc(0))],
    ['PRIORITY frames', (id: number) => frame(FrameType.PRIORITY, 0, id, Buffer.from([0, 0, 0, 0, 16]))],
    ['frames of an unknown type', (id: number) => frame(0xfa, 0, id, Buffer.alloc(0))],
  ])('answers a flood of %s, which do nothing, with GOAWAY ENHANCE_YOUR_CALM', async (_what, make) => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcRequest(HANG, Buffer.alloc(0)).block));
    const one = make(1);
    conn.send(Buffer.concat(Array.from({ length: 5000 }, () => one)));
    await expectGoaway(conn, ErrorCode.ENHANCE_YOUR_CALM, 1);
  });

  it('takes a few such frames in its stride', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcRequest(HANG, Buffer.alloc(0)).block));
    conn.send(...Array.from({ length: 50 }, () => frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16]))));
    await expectEcho(conn, 3);
  });

  it('stops reading from a client that does not read its answers, and goes on once it does', async () => {
    // Windows as large as HTTP/2 allows: flow control alone would not hold the server back.
    const { conn } = await ready({}, { [Setting.INITIAL_WINDOW_SIZE]: MAX_WINDOW_SIZE });
    conn.send(windowUpdate(0, MAX_WINDOW_SIZE - DEFAULT_WINDOW_SIZE));
    conn.socket.pause();
    const count = 8000;
    const message = Buffer.alloc(4096, 7);
    // 32 MiB of answers: far more than the sockets' buffers and the server's 1 MiB hold.
    for (let i = 0; i < count; i++) conn.send(requestFrames(2 * i + 1, ECHO, message));
    await new Promise((r) => setTimeout(r, 400));
    const stalled = echoCalls;
    expect(stalled).toBeLessThan(count);
    await new Promise((r) => setTimeout(r, 200));
    expect(echoCalls, 'calls answered while the client reads nothing').toBe(stalled);
    conn.socket.resume();
    const last = 2 * count - 1;
    await conn.next((f) => f.streamId === last && f.type === FrameType.HEADERS && (f.flags & Flags.END_STREAM) !== 0, 10_000);
    expect(echoCalls).toBe(count);
  });

  it('cuts a CONTINUATION flood with GOAWAY before 2 MiB of header block is sent', async () => {
    const { conn } = await ready();
    conn.send(frame(FrameType.HEADERS, 0, 1, encodeHeaders(requestHeaders(ECHO))));
    // 128-byte fields, 128 to a frame: a well-formed block that never ends.
    const field = encodeHeaders([['x-flood', 'a'.repeat(118)]]);
    expect(field.length).toBe(128);
    const chunk = Buffer.concat(Array.from({ length: DEFAULT_MAX_FRAME_SIZE / field.length }, () => field));
    const frames = (2 * 1024 * 1024) / DEFAULT_MAX_FRAME_SIZE;
    let sent = 0;
    while (sent < frames && !conn.isClosed && !conn.received.some(isType(FrameType.GOAWAY))) {
      await conn.write(frame(FrameType.CONTINUATION, 0, 1, chunk));
      sent++;
      await new Promise(setImmediate);
    }
    expect(sent, 'CONTINUATION frames sent before the server reacted').toBeLessThan(frames);
    await conn.waitFor(FrameType.GOAWAY);
    await conn.waitClosed();
  });

  it('refuses a header list above its SETTINGS_MAX_HEADER_LIST_SIZE with 431 or RST_STREAM, and keeps serving', async () => {
    const { conn, settings } = await ready();
    const limit = settings.get(Setting.MAX_HEADER_LIST_SIZE) ?? 64 * 1024;
    const extra: HeaderList = [];
    // Each field counts name + value + 32 octets (RFC 7541 §4.1).
    for (let size = 0; size <= limit; size += 8 + 4000 + 32) extra.push([`x-big-${String(extra.length).padStart(2, '0')}`, 'b'.repeat(4000)]);
    conn.send(headerFrames(1, encodeHeaders(requestHeaders(ECHO, extra)), true));
    const f = await conn.next(onStream(1));
    if (f.type === FrameType.HEADERS) expect(Object.fromEntries(headersOf(f))[':status']).toBe('431');
    else expect(f.type, describeFrame(f)).toBe(FrameType.RST_STREAM);
    await expectEcho(conn, 3);
  });
});

describe('HTTP/2 transport: flow control', () => {
  it('honours its advertised INITIAL_WINDOW_SIZE and WINDOW_UPDATEs for a 3 MiB request', async () => {
    // Our receive windows wide open, so only the request direction is flow-controlled here.
    const { conn, settings } = await ready({}, { [Setting.INITIAL_WINDOW_SIZE]: MAX_WINDOW_SIZE });
    conn.send(windowUpdate(0, MAX_WINDOW_SIZE - DEFAULT_WINDOW_SIZE));
    const message = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < message.length; i++) message[i] = i % 251;
    const { block, data } = grpcRequest(ECHO, message);
    conn.send(frame(FrameType.HEADERS, Flags.END_HEADERS, 1, block));

    let connWindow = DEFAULT_WINDOW_SIZE;
    let streamWindow = settings.get(Setting.INITIAL_WINDOW_SIZE) ?? DEFAULT_WINDOW_SIZE;
    const credit = (f: Frame): void => {
      if (f.streamId === 0) connWindow += increment(f);
      else if (f.streamId === 1) streamWindow += increment(f);
    };
    for (let pos = 0; pos < data.length; ) {
      conn.take(isType(FrameType.WINDOW_UPDATE)).forEach(credit);
      const size = Math.min(DEFAULT_MAX_FRAME_SIZE, connWindow, streamWindow, data.length - pos);
      if (size <= 0) {
        credit(await conn.waitFor(FrameType.WINDOW_UPDATE));
        continue;
      }
      const last = pos + size === data.length;
      conn.send(frame(FrameType.DATA, last ? Flags.END_STREAM : 0, 1, data.subarray(pos, pos + size)));
      pos += size;
      connWindow -= size;
      streamWindow -= size;
    }
    const res = await readResponse(conn, 1, { timeoutMs: 1500 });
    expect(res.trailers?.['grpc-status']).toBe('0');
    expect(res.data.length).toBe(data.length);
    expect(res.data.equals(data)).toBe(true);
  });

  it('stops its DATA at our INITIAL_WINDOW_SIZE of 100 until we send WINDOW_UPDATE', async () => {
    const { conn } = await ready({}, { [Setting.INITIAL_WINDOW_SIZE]: 100 });
    const message = Buffer.alloc(1000, 'w');
    conn.send(requestFrames(1, ECHO, message));
    const head = await conn.waitFor(FrameType.HEADERS, 1);
    expect(headersOf(head)).toContainEqual([':status', '200']);
    // Wait until nothing more arrives for 200 ms: exactly the window's worth of DATA.
    const received: Buffer[] = [];
    for (let f = await conn.maybeNext(onStream(1)); f; f = await conn.maybeNext(onStream(1))) {
      expect(f.type, describeFrame(f)).toBe(FrameType.DATA);
      received.push(dataOf(f));
    }
    expect(Buffer.concat(received).length).toBe(100);

    conn.send(windowUpdate(1, 10_000));
    const rest = await readResponse(conn, 1, { headersRead: true });
    expect(rest.trailers?.['grpc-status']).toBe('0');
    expect(Buffer.concat([...received, rest.data]).equals(grpcMessage(message))).toBe(true);
  });
});

describe('HTTP/2 transport: shutdown and keepalive', () => {
  it('close() sends GOAWAY NO_ERROR naming the in-flight stream, finishes it, then closes the connection', async () => {
    const { conn } = await ready();
    const message = Buffer.from('finish me');
    conn.send(requestFrames(1, HELD, message));
    await heldEntered;
    const own = server!;
    server = undefined;
    let closeResolved = false;
    const closing = own.close(2000).then(() => (closeResolved = true));

    const goaway = parseGoaway(await conn.waitFor(FrameType.GOAWAY));
    expect([goaway.code, goaway.lastStreamId]).toEqual([ErrorCode.NO_ERROR, 1]);
    // A stream opened after the GOAWAY is refused or ignored, never served.
    conn.send(requestFrames(3, ECHO, Buffer.from('too late')));
    const late = await conn.maybeNext(onStream(3), 200);
    if (late) expect([late.type, rstCode(late)]).toEqual([FrameType.RST_STREAM, ErrorCode.REFUSED_STREAM]);
    expect(closeResolved).toBe(false);

    release();
    const res = await readResponse(conn, 1);
    expect(res.data.equals(grpcMessage(message))).toBe(true);
    expect(res.trailers?.['grpc-status']).toBe('0');
    await conn.waitClosed();
    await closing;
    expect(closeResolved).toBe(true);
  });

  it('PINGs an idle connection and closes it when the PING is not acknowledged', async () => {
    const { conn } = await ready({ keepaliveIntervalMs: 100, keepaliveTimeoutMs: 100 });
    const keepalive = await conn.next((f) => f.type === FrameType.PING && (f.flags & Flags.ACK) === 0);
    expect([keepalive.streamId, keepalive.payload.length]).toEqual([0, 8]);
    await conn.waitClosed(1000);
  });
});
