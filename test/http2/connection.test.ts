import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, serveConnection } from '../../src/http2/connection.js';
import { connectRaw, ErrorCode, FrameType, parseGoaway, ping, settingsAck, type RawConnection } from './wire-client.js';

/**
 * Connection limits that the gRPC server does not expose, on serveConnection directly
 * (conformance.test.ts covers the rest through the gRPC server).
 */

let server: Server | undefined;
let conn: RawConnection | undefined;
afterEach(async () => {
  conn?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(settingsTimeoutMs: number): Promise<number> {
  server = createServer((socket) => void serveConnection(socket, (stream) => stream.respond(Buffer.from([0x88]), true), { ...DEFAULT_LIMITS, settingsTimeoutMs }));
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
