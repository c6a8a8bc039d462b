/**
 * A server process for bench/ext-proc.ts, started as `node --expose-gc --import tsx
 * bench/ext-proc-server.ts <gateway|empty> [policy dir]` with an IPC channel; it sends
 * `{type: 'ready', grpc: port}` once bound on 127.0.0.1:0 and exits on `'stop'`.
 * - gateway: the real gateway, built (`startGateway` from dist/), logging silenced, over the policy dir;
 * - empty: the same ExternalProcessor service from Envoy's protos whose Process answers every
 *   message at once with an empty response of the matching kind: the cost of gRPC itself.
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { envoyServices } from '../src/envoy/protos.js';
import { builtModule } from './built.js';

// The gateway as built (bench/built.ts); ext-proc.ts builds it before starting this process.
const { resolveConfig } = await builtModule<typeof import('../src/config.js')>('config.js');
const { startGateway } = await builtModule<typeof import('../src/main.js')>('main.js');

async function main(): Promise<void> {
  const [kind, policyDir] = process.argv.slice(2);
  let port: number;
  let close: () => Promise<void>;
  if (kind === 'gateway' && policyDir !== undefined) {
    const gateway = await startGateway(resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: [policyDir], reload: false }), pino({ level: 'silent' }));
    port = gateway.addresses.grpc;
    close = () => gateway.close();
  } else if (kind === 'empty') {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
    server.addService(envoyServices().externalProcessor, {
      Process: (call: grpc.ServerDuplexStream<{ request?: string }, object>) => {
        call.on('data', (m: { request?: string }) => {
          const k = String(m.request);
          call.write({ [k]: k.endsWith('_trailers') ? {} : { response: {} } });
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    });
    port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    close = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  } else {
    throw new Error(`usage: ext-proc-server.ts <gateway <policy dir>|empty>, not "${kind}"`);
  }
  process.on('message', (m: unknown) => {
    if (m === 'settle') {
      (globalThis as { gc?: () => void }).gc?.();
      process.send?.({ type: 'settled' });
    } else if (m === 'stop') void close().then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', grpc: port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
