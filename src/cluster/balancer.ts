import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The shared data-plane ports: Envoy's gRPC and the HTTP authz mode. */
export type Edge = 'grpc' | 'http';

/** A worker as the balancer sees it. */
export interface BalanceTarget {
  readonly id: number;
  /** Serving: may be given connections. */
  ready(): boolean;
  /** Passes the (paused) socket over; `done` gets an error when it could not be. */
  hand(edge: Edge, socket: Socket, done: (err: Error | null) => void): void;
}

/**
 * The primary's listeners on the shared ports under `serve --workers`. Each new connection goes
 * to the ready worker with the fewest open connections (ties: in turn), counted from the
 * handovers and the workers' reports of closed ones.
 *
 * Why not node:cluster's own round-robin: it gives a connection to whichever worker
 * acknowledged its previous one first, so connections that arrive together often split
 * unevenly (4 connections to 2 workers: 3 and 1 in 2 runs of 8, measured). Envoy keeps a few
 * long-lived HTTP/2 connections per gateway, so an uneven split leaves a core half idle for
 * as long as they live.
 */
export class ConnectionBalancer {
  private readonly open = new Map<number, number>();
  private readonly servers: Server[] = [];
  private turn = 0;

  constructor(
    private readonly targets: () => readonly BalanceTarget[],
    /** A connection that no worker could take (it is closed: the client fails closed or retries). */
    private readonly onRefused: (edge: Edge) => void,
  ) {}

  /** Listens on `host:port` for `edge`; resolves with the bound port. */
  async listen(edge: Edge, host: string, port: number): Promise<number> {
    // Paused: not a byte is read here, so the worker's server sees the connection from its start.
    const server = createServer({ pauseOnConnect: true }, (socket) => this.hand(edge, socket, new Set()));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // A failed accept (EMFILE, a reset before accept) concerns that connection only.
    server.on('error', () => undefined);
    this.servers.push(server);
    return (server.address() as AddressInfo).port;
  }

  /** Open connections per worker id, as counted here. */
  connections(id: number): number {
    return this.open.get(id) ?? 0;
  }

  /** A worker closed one of its connections. */
  closed(id: number): void {
    const n = this.open.get(id);
    if (n !== undefined && n > 0) this.open.set(id, n - 1);
  }

  /** A worker is gone: its connections went with it. */
  forget(id: number): void {
    this.open.delete(id);
  }

  /** Stops accepting connections (those handed over stay with their workers). */
  async close(): Promise<void> {
    await Promise.all(this.servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  private hand(edge: Edge, socket: Socket, tried: Set<number>): void {
    const target = this.pick(tried);
    if (target === undefined) {
      socket.destroy();
      this.onRefused(edge);
      return;
    }
    this.open.set(target.id, this.connections(target.id) + 1);
    target.hand(edge, socket, (err) => {
      if (err === null) return;
      // The worker went away meanwhile: the next one.
      this.closed(target.id);
      tried.add(target.id);
      this.hand(edge, socket, tried);
    });
  }

  private pick(exclude: ReadonlySet<number>): BalanceTarget | undefined {
    const all = this.targets().filter((t) => t.ready() && !exclude.has(t.id));
    let best: BalanceTarget | undefined;
    const start = this.turn++;
    for (let i = 0; i < all.length; i++) {
      const t = all[(start + i) % all.length] as BalanceTarget;
      if (best === undefined || this.connections(t.id) < this.connections(best.id)) best = t;
    }
    return best;
  }
}
