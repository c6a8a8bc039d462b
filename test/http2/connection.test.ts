import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, Http2Connection, type ServerStream } from '../../src/http2/connection.js';
import { HpackEncoder } from '../../src/http2/hpack.js';
import { connectRaw, ErrorCode, Flags, FrameType, parseGoaway, ping, requestFrames, Setting, settingsAck, windowUpdate, type RawConnection } from './wire-client.js';

/**
 * Connection limits and stream behaviour that the gRPC server does not expose, on Http2Connection directly
 * (conformance.test.ts covers the rest through the gRPC server).
 */

let server: Server | undefined;
let conn: RawConnection | undefined;
afterEach(async () => {
  conn?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(settingsTimeoutMs: number, onStream: (stream: ServerStream) => void = (stream) => stream.respond(Buffer.from([0x88]), true)): Promise<number> {
  server = createServer((socket) => void new Http2Connection(socket, onStream, { ...DEFAULT_LIMITS, settingsTimeoutMs }));
  return new Promise((resolve) => server!.listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port)));
}

describe('SETTINGS acknowledgement (RFC 9113 §6.5.3)', () => {
  it('ends a connection whose peer never acknowledges our SETTINGS with GOAWAY SETTINGS_TIMEOUT', async () => {
    conn = await connectRaw(await listen(100));
    const goaway = parseGoaway(await conn.waitFor(FrameType.GOAWAY, 0, 2000));
    expect(goaway.code).toBe(ErrorCode.SETTINGS_TIMEOUT);
    await conn.waitClosed();
  });

  it('keeps a connection whose peer acknowledged them', async () => {
    conn = await connectRaw(await listen(100));
    await conn.next((f) => f.type === FrameType.SETTINGS, 1000);
    conn.send(settingsAck());
    await new Promise((r) => setTimeout(r, 300));
    conn.send(ping(Buffer.from('stillher')));
    const ack = await conn.waitFor(FrameType.PING, 0);
    expect(ack.payload.toString()).toBe('stillher');
    expect(conn.received.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
  });
});

describe('a stream’s output', () => {
  it('keeps DATA waiting for window in order, ends with the trailers, and takes nothing written after end()', async () => {
    const hpack = new HpackEncoder();
    const port = await listen(10_000, (stream) => {
      stream.respond(hpack.encode([':status', '200']));
      stream.write(Buffer.from('first '));
      stream.write(Buffer.from('second'));
      stream.end(hpack.encode(['grpc-status', '0']));
      stream.write(Buffer.from(' after end'));
    });
    // No window for our streams: the DATA has to wait.
    conn = await connectRaw(port, { [Setting.INITIAL_WINDOW_SIZE]: 0 });
    await conn.handshake();
    conn.send(requestFrames(1, '/x', Buffer.from('a')));
    await conn.waitFor(FrameType.HEADERS, 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(conn.received.filter((f) => f.type === FrameType.DATA)).toEqual([]);
    conn.send(windowUpdate(1, 1000));
    const trailers = await conn.waitFor(FrameType.HEADERS, 1);
    expect(trailers.flags & Flags.END_STREAM).toBe(Flags.END_STREAM);
    const data = Buffer.concat(conn.received.filter((f) => f.type === FrameType.DATA).map((f) => f.payload));
    expect(data.toString()).toBe('first second');
    // DATA came before the trailers.
    expect(conn.received.findIndex((f) => f.type === FrameType.DATA)).toBeLessThan(conn.received.indexOf(trailers));
  });
});

