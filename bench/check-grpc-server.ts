/**
 * A server process for bench/check-grpc.ts, started as `node --expose-gc --import tsx
 * bench/check-grpc-server.ts <kind> [policy dir] [worker count]` with an IPC channel. It binds
 * 127.0.0.1:0, then sends `{type: 'ready', grpc: port}`. Messages it answers:
 * - `'stats'`: `{type: 'stats', outcomes}`, Check calls answered, by outcome;
 * - `'settle'`: collects garbage (so a phase does not pay for the previous one's), `{type: 'settled'}`;
 * - `'gc'`: `{type: 'gc', gc}`, the GC pauses since the last `'gc'` or `'settle'`;
 * - `'stop'`: closes and exits.
 *
 * - gateway: the real gateway as `joch serve` runs it (`startGateway` from the built dist/,
 *   logging silenced, no reload watcher, audit on as by default) over the policy dir; outcomes from its own
 *   `joch_decisions_total`. gateway-no-audit: the same with `audit: {enabled: false}`.
 * - workers, workers-no-audit: the same as `joch serve --workers N` runs it (startCluster: this
 *   process is the primary; N, the third argument, worker processes); outcomes from the admin /metrics,
 *   which sums the workers'. GC figures are the primary's only.
 * - empty: a grpc-js server registering the same `envoyServices().authorization` whose Check
 *   answers `{status: {code: 0}}` at once: what an empty handler costs on @grpc/grpc-js.
 * - http2-minimal: node:http2 answering every stream with a fixed, pre-encoded OK
 *   CheckResponse (headers, one DATA frame, grpc-status 0 trailers) without reading the
 *   request: the floor of gRPC on node:http2 in this process model.
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { envoyServices } from '../src/envoy/protos.js';
import { builtModule } from './built.js';

// The gateway as built (bench/built.ts); check-grpc.ts builds it before starting this process.
const { resolveConfig } = await builtModule<typeof import('../src/config.js')>('config.js');
const { startCluster } = await builtModule<typeof import('../src/cluster/primary.js')>('cluster/primary.js');
const { startGateway } = await builtModule<typeof import('../src/main.js')>('main.js');

export type ServerKind = 'gateway' | 'gateway-no-audit' | 'workers' | 'workers-no-audit' | 'empty' | 'http2-minimal';

/** GC pauses in the server process over a span of time. */
export interface GcStats {
  /** Major (mark-compact) collections. */
  majors: number;
  /** The longest major collection's pause, ms. */
  majorMaxMs: number;
  /** All collections' pauses together, ms. */
  pauseMs: number;
}

export type ServerMessage =
  | { type: 'ready'; grpc: number }
  | { type: 'stats'; outcomes: Record<string, number> }
  | { type: 'settled' }
  | { type: 'gc'; gc: GcStats };

const noGc = (): GcStats => ({ majors: 0, majorMaxMs: 0, pauseMs: 0 });
let gc = noGc();
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.pauseMs += e.duration;
    if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      gc.majors++;
      gc.majorMaxMs = Math.max(gc.majorMaxMs, e.duration);
    }
  }
}).observe({ entryTypes: ['gc'] });

function send(msg: ServerMessage): void {
  process.send?.(msg);
}

async function main(): Promise<void> {
  const [kind, policyDir, workers] = process.argv.slice(2);
  let stats: () => Promise<Record<string, number>>;
  let close: () => Promise<void>;
  let port: number;

  if (kind === 'gateway' || kind === 'gateway-no-audit') {
    if (policyDir === undefined) throw new Error('usage: check-grpc-server.ts gateway <policy dir>');
    const gateway = await startGateway(
      resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: [policyDir], reload: false, ...(kind === 'gateway-no-audit' ? { audit: { enabled: false } } : {}) }),
      pino({ level: 'silent' }),
    );
    port = gateway.addresses.grpc;
    stats = async () => {
      const out: Record<string, number> = {};
      const metric = gateway.metrics.registry.getSingleMetric('joch_decisions_total');
      for (const v of metric ? (await metric.get()).values : []) {
        const outcome = String(v.labels.outcome ?? '?');
        out[outcome] = (out[outcome] ?? 0) + v.value;
      }
      return out;
    };
    close = () => gateway.close();
  } else if (kind === 'workers' || kind === 'workers-no-audit') {
    if (policyDir === undefined) throw new Error('usage: check-grpc-server.ts workers <policy dir> <worker count>');
    const layers = [{ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: [policyDir], reload: false, workers: Number(workers), logLevel: 'silent', ...(kind === 'workers-no-audit' ? { audit: { enabled: false } } : {}) }];
    const gateway = await startCluster(layers, resolveConfig(...layers), pino({ level: 'silent' }));
    port = gateway.addresses.grpc;
    stats = async () => {
      const out: Record<string, number> = {};
      const text = await (await fetch(`http://127.0.0.1:${gateway.addresses.admin}/metrics`)).text();
      for (const m of text.matchAll(/^joch_decisions_total\{[^}]*outcome="([^"]+)"[^}]*\} (\d+)$/gm)) out[m[1] as string] = (out[m[1] as string] ?? 0) + Number(m[2]);
      return out;
    };
    close = () => gateway.close();
  } else if (kind === 'empty') {
    let calls = 0;
    // Same server options as src/envoy/grpc-server.ts.
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
    server.addService(envoyServices().authorization, {
      Check: (_call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
        calls++;
        callback(null, { status: { code: 0 } });
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    stats = () => Promise.resolve({ ok: calls });
    close = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  } else if (kind === 'http2-minimal') {
    let calls = 0;
    // CheckResponse{status: {}}: field 1, length 0, in a gRPC frame.
    const reply = Buffer.from([0, 0, 0, 0, 2, 0x0a, 0x00]);
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.resume();
      stream.once('end', () => {
        calls++;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(reply);
      });
    });
    port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    stats = () => Promise.resolve({ ok: calls });
    close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  } else {
    throw new Error(`usage: check-grpc-server.ts <gateway|gateway-no-audit|workers|workers-no-audit|empty|http2-minimal> [policy dir], not "${kind}"`);
  }

  process.on('message', (m: unknown) => {
    if (m === 'stats') void stats().then((outcomes) => send({ type: 'stats', outcomes }));
    else if (m === 'settle') {
      (globalThis as { gc?: () => void }).gc?.();
      // GC entries reach the observer asynchronously: let them arrive, then start counting afresh.
      setTimeout(() => {
        gc = noGc();
        send({ type: 'settled' });
      }, 20);
    } else if (m === 'gc') {
      send({ type: 'gc', gc });
      gc = noGc();
    }
    else if (m === 'stop') void close().then(() => process.exit(0));
  });
  // The bench process went away without saying stop: do not linger.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', grpc: port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
