/**
 * ext_proc round trip for a 64 KiB MCP tool result, against an empty Process handler in the
 * same run (`npm run bench`). Each server runs in its own process (bench/ext-proc-server.ts);
 * this process plays Envoy's side of one stream per request, sequentially: request headers,
 * the tools/call request body (BUFFERED), response headers, then the 64 KiB result body.
 * Reported: the latency of the result-body message alone (send → its answer) and of the
 * whole stream, p50/p99, and what the gateway adds over the empty handler at p99.
 * The gateway runs a policy that scans MCP results for PII, secrets and injection
 * (`data.contains`, all classes) and redacts what it finds; the result text is benign, so
 * every answer is checked to be a plain CONTINUE. A second gateway decides on the tool name
 * only, separating the scanners' cost (src/scan) from the cost of the ext_proc path itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { envoyServices } from '../src/envoy/protos.js';
import { buildGateway } from './built.js';
import { percentile, table, us } from './stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVER = join(ROOT, 'bench', 'ext-proc-server.ts');
const WARMUP = 300;
const STREAMS = 2000;

/** Decides on the tool name only: the cost of ext_proc, parsing and policy without scanning. */
const NO_SCAN_POLICY = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: tools
spec:
  rules:
    - id: no-shell
      when: {tool.name: shell}
      action: deny
`;

const POLICY = `apiVersion: joch.dev/v1alpha1
kind: Policy
metadata:
  name: scan-mcp-results
spec:
  rules:
    - id: redact-results
      when: {hook: [mcpInbound, toolCallResult], data.contains: [pii, secret, injection]}
      action: {redact: true}
`;

type Obj = Record<string, unknown>;

const hm = (h: Record<string, string>): Obj => ({ headers: Object.entries(h).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) });

/** About 64 KiB of benign prose as one MCP text content block. */
function result64k(): Buffer {
  const sentence = 'The quarterly report lists 42 open items; the team closed 17 of them in week 3 and plans a review on the next release train. ';
  let text = '';
  while (Buffer.byteLength(text) < 64 * 1024 - 200) text += sentence;
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text }], isError: false } }));
}

interface Sample {
  result: Float64Array;
  stream: Float64Array;
}

async function measure(port: number, n: number, out: Sample | undefined, offset: number): Promise<void> {
  const method = envoyServices().externalProcessor['Process'];
  if (method === undefined) throw new Error('no Process method');
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const reqBody = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search', arguments: { q: 'report' } } }));
  const resBody = result64k();
  const messages: [string, Obj][] = [
    ['request_headers', { request_headers: { headers: hm({ ':method': 'POST', ':path': '/mcp', ':authority': 'tools.example.com', ':scheme': 'http', 'content-type': 'application/json', 'mcp-protocol-version': '2025-06-18', 'content-length': String(reqBody.length) }) } }],
    ['request_body', { request_body: { body: reqBody, end_of_stream: true } }],
    ['response_headers', { response_headers: { headers: hm({ ':status': '200', 'content-type': 'application/json', 'content-length': String(resBody.length) }) } }],
    ['response_body', { response_body: { body: resBody, end_of_stream: true } }],
  ];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      let tLast = t0;
      await new Promise<void>((resolve, reject) => {
        const call = client.makeBidiStreamRequest(method.path, (a: Obj) => method.requestSerialize(a), (b: Buffer) => method.responseDeserialize(b) as Obj, new grpc.Metadata());
        let k = 0;
        call.on('data', (r: Obj) => {
          const [kind] = messages[k] as [string, Obj];
          const answer = r[kind] as Obj | undefined;
          // Every answer must be the matching kind, and a CONTINUE without a body change.
          if (r['response'] !== kind || answer === undefined || (answer['response'] as Obj | undefined)?.['body_mutation'] !== undefined) {
            call.cancel();
            reject(new Error(`unexpected answer to ${kind}: ${JSON.stringify(r).slice(0, 200)}`));
            return;
          }
          k++;
          if (k === messages.length) {
            const t1 = process.hrtime.bigint();
            if (out !== undefined) {
              out.result[offset + i] = Number(t1 - tLast);
              out.stream[offset + i] = Number(t1 - t0);
            }
            call.end();
            resolve();
            return;
          }
          if (k === messages.length - 1) tLast = process.hrtime.bigint();
          call.write((messages[k] as [string, Obj])[1]);
        });
        call.on('error', (e: grpc.ServiceError) => {
          if (e.code !== grpc.status.CANCELLED) reject(e);
        });
        call.write((messages[0] as [string, Obj])[1]);
      });
    }
  } finally {
    client.close();
  }
}

function startServer(kind: 'gateway' | 'empty', policyDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SERVER, kind, policyDir], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code}`)));
    child.on('message', (m: { type?: string; grpc?: number }) => {
      if (m.type === 'ready' && m.grpc !== undefined) resolve({ child, port: m.grpc });
    });
  });
}

const settle = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    child.once('message', () => resolve());
    child.send('settle');
  });

type Kind = 'empty' | 'noscan' | 'gateway';
const KINDS: readonly Kind[] = ['empty', 'noscan', 'gateway'];
const LABEL: Record<Kind, string> = { empty: 'empty Process handler', noscan: 'gateway, tool-name policy', gateway: 'gateway, scan all classes' };

export async function run(): Promise<void> {
  buildGateway();
  const dir = mkdtempSync(join(tmpdir(), 'joch-bench-ext-proc-'));
  const noScanDir = mkdtempSync(join(tmpdir(), 'joch-bench-ext-proc-'));
  writeFileSync(join(dir, 'scan.yaml'), POLICY);
  writeFileSync(join(noScanDir, 'tools.yaml'), NO_SCAN_POLICY);
  const servers: Record<Kind, { child: ChildProcess; port: number }> = { empty: await startServer('empty', dir), noscan: await startServer('gateway', noScanDir), gateway: await startServer('gateway', dir) };
  const samples = Object.fromEntries(KINDS.map((k) => [k, { result: new Float64Array(STREAMS), stream: new Float64Array(STREAMS) }])) as Record<Kind, Sample>;
  try {
    for (const kind of KINDS) await measure(servers[kind].port, WARMUP, undefined, 0);
    // Interleave the two in rounds so that machine noise falls on both alike.
    const rounds = 10;
    const per = STREAMS / rounds;
    for (let r = 0; r < rounds; r++) {
      for (const kind of KINDS) {
        await settle(servers[kind].child);
        await measure(servers[kind].port, per, samples[kind], r * per);
      }
    }
  } finally {
    for (const s of Object.values(servers)) {
      s.child.removeAllListeners('exit');
      s.child.send('stop');
    }
  }
  const row = (kind: Kind): string[] => {
    const res = samples[kind].result.sort();
    const str = samples[kind].stream.sort();
    return [LABEL[kind], us(percentile(res, 50)), us(percentile(res, 99)), us(percentile(str, 50)), us(percentile(str, 99))];
  };
  const p = (kind: Kind, q: number): number => percentile(samples[kind].result, q);
  console.log(`\next_proc: ${STREAMS} streams per server, sequential, 64 KiB MCP tool result (µs)`);
  console.log(table(['server', 'result p50', 'result p99', 'stream p50', 'stream p99'], KINDS.map(row)));
  for (const kind of ['noscan', 'gateway'] as const) {
    const added = (p(kind, 99) - p('empty', 99)) / 1e6;
    console.log(`${LABEL[kind]}: added p99 ${added.toFixed(3)} ms (target ≤ 2 ms: ${added <= 2 ? 'met' : 'NOT met'}), added p50 ${((p(kind, 50) - p('empty', 50)) / 1e6).toFixed(3)} ms; p99 ratio ${(p(kind, 99) / p('empty', 99)).toFixed(2)}×`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await run();
