import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionBalancer, type BalanceTarget, type Edge } from '../../src/cluster/balancer.js';

/** A worker stand-in: keeps what it is handed (or refuses, as a worker that just went away). */
class FakeWorker implements BalanceTarget {
  readonly got: { edge: Edge; socket: Socket }[] = [];
  up = true;
  refuse = false;
  constructor(readonly id: number) {}
  ready(): boolean {
    return this.up;
  }
  hand(edge: Edge, socket: Socket, done: (err: Error | null) => void): void {
    if (this.refuse) return done(new Error('channel closed'));
    this.got.push({ edge, socket });
    handed.push(socket);
    done(null);
  }
}

/** Both ends of every connection, closed after each test (a paused socket never sees its peer close). */
const opened: Socket[] = [];
const handed: Socket[] = [];
let balancer: ConnectionBalancer | undefined;
afterEach(async () => {
  for (const s of [...opened.splice(0), ...handed.splice(0)]) s.destroy();
  await balancer?.close();
});

/** Opens a connection and waits until the balancer has handed it to someone (or closed it). */
async function open(port: number, settled: () => number): Promise<Socket> {
  const before = settled();
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  opened.push(socket);
  for (let i = 0; i < 200 && settled() === before; i++) await new Promise((r) => setTimeout(r, 5));
  return socket;
}

function setup(workers: FakeWorker[]): { refused: Edge[]; settled: () => number } {
  const refused: Edge[] = [];
  balancer = new ConnectionBalancer(() => workers, (edge) => refused.push(edge));
  return { refused, settled: () => refused.length + workers.reduce((n, w) => n + w.got.length, 0) };
}

describe('ConnectionBalancer', () => {
  it('gives each new connection to the ready worker with the fewest open ones, in turn on ties', async () => {
    const workers = [new FakeWorker(1), new FakeWorker(2), new FakeWorker(3)];
    const { settled } = setup(workers);
    const port = await balancer!.listen('grpc', '127.0.0.1', 0);
    for (let i = 0; i < 6; i++) await open(port, settled);
    expect(workers.map((w) => w.got.length)).toEqual([2, 2, 2]);
    expect(workers.map((w) => balancer!.connections(w.id))).toEqual([2, 2, 2]);
    // Two of worker 1's close: the next two go to it.
    balancer!.closed(1);
    balancer!.closed(1);
    await open(port, settled);
    await open(port, settled);
    expect(workers.map((w) => w.got.length)).toEqual([4, 2, 2]);
  });

  it('hands the socket over paused and unread, on the edge it arrived on', async () => {
    const worker = new FakeWorker(1);
    const { settled } = setup([worker]);
    const grpc = await balancer!.listen('grpc', '127.0.0.1', 0);
    const http = await balancer!.listen('http', '127.0.0.1', 0);
    const client = await open(http, settled);
    client.write('GET / HTTP/1.1\r\n\r\n');
    await open(grpc, settled);
    expect(worker.got.map((g) => g.edge)).toEqual(['http', 'grpc']);
    const handed = worker.got[0]!.socket;
    expect(handed.isPaused()).toBe(true);
    const data = new Promise<string>((resolve) => handed.once('data', (d: Buffer) => resolve(d.toString())));
    handed.resume();
    expect(await data).toBe('GET / HTTP/1.1\r\n\r\n');
  });

  it('skips workers that are not ready and, when a handover fails, tries the next', async () => {
    const [a, b, c] = [new FakeWorker(1), new FakeWorker(2), new FakeWorker(3)];
    a.up = false;
    b.refuse = true;
    const { settled } = setup([a, b, c]);
    const port = await balancer!.listen('grpc', '127.0.0.1', 0);
    for (let i = 0; i < 3; i++) await open(port, settled);
    expect([a.got.length, b.got.length, c.got.length]).toEqual([0, 0, 3]);
    // The failed handovers are not counted against worker 2.
    expect(balancer!.connections(2)).toBe(0);
  });

  it('closes a connection no worker can take and reports it; forgets a worker that is gone', async () => {
    const worker = new FakeWorker(1);
    worker.up = false;
    const { refused, settled } = setup([worker]);
    const port = await balancer!.listen('http', '127.0.0.1', 0);
    const socket = await open(port, settled);
    await new Promise((resolve) => (socket.destroyed ? resolve(undefined) : socket.once('close', resolve)));
    expect(refused).toEqual(['http']);
    worker.up = true;
    await open(port, settled);
    expect(balancer!.connections(1)).toBe(1);
    balancer!.forget(1);
    expect(balancer!.connections(1)).toBe(0);
  });

  it('stops accepting on close', async () => {
    setup([new FakeWorker(1)]);
    const port = await balancer!.listen('grpc', '127.0.0.1', 0);
    await balancer!.close();
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => connect(port, '127.0.0.1').once('error', resolve));
    expect(err.code).toBe('ECONNREFUSED');
  });
});
