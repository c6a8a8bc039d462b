import { spawn, spawnSync } from 'node:child_process';
import { hash, randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { encodeDecisionEntry, takeEntry, type EntryTaker } from '../src/audit/entries.js';
import { EntryDecoder, EntryEncoder } from '../src/audit/entry-codec.js';
import { AuditLog } from '../src/audit/log.js';
import { resolveConfig } from '../src/config.js';
import { createRedactor, rememberingRedactor } from '../src/log.js';
import { startGateway } from '../src/main.js';
import { AuditDecisionRecorder, RawDecisionRecorder } from '../src/audit/recorder.js';
import { AuditThread } from '../src/audit/thread.js';
import type { AuditJournal } from '../src/audit/log.js';
import { DEFAULT_PROVIDER_HOSTS, providerMatcher } from '../src/context/providers.js';
import { check, type Authorizer, type CheckResult } from '../src/envoy/authorization.js';
import type { CheckRequestMessage } from '../src/envoy/check-request.js';
import { envoyServices } from '../src/envoy/protos.js';
import { Engine } from '../src/policy/engine.js';
import { loadPolicies } from '../src/policy/load.js';
import { PolicySet } from '../src/policy/policy-set.js';
import { KnownSecrets } from '../src/secrets/known.js';
import { MemoryStore } from '../src/state/memory.js';
import { CHECK_REQUEST } from './check-grpc.js';
import { ratio, settle, table } from './stats.js';

/**
 * Decision recording: ext_authz Check throughput (the Check handler's work in process:
 * parse, decide, build the response, record) with audit on vs off, over policies/ and the
 * CheckRequest the gRPC benchmark sends, decoded exactly as the server decodes it. "On":
 * every decision becomes a hash-chained record in the memory store, either through the audit
 * thread (the default: the Check's thread copies a row into a shared ring, another core does
 * the rest) or all on the Check's thread (`audit.worker: false`). Checks run in batches
 * that yield to the event loop, as a server's do; the clock stops only after the audit log
 * has written everything (flush). No gRPC: its cost would only dilute the ratio.
 * Also: the cost of one `recordDecision` call on the caller's stack, and the same comparison
 * over gRPC: the real gateway (startGateway, policies/) in this process, audit on or off, driven
 * by h2load (one HTTP/2 connection, as Envoy keeps, 64 streams in flight) sending the same
 * CheckRequest as a gRPC frame; skipped with a note when h2load is not installed. And the
 * finishing step on its own (see finishingCost), against SHA-256 of the record it stores.
 */

const CHECKS = 200_000;
const BATCH = 500;
const ROUNDS = 3;
const TARGET = 0.9;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** These policies inject no Secrets, so Check answers synchronously. */
function syncCheck(authorizer: Authorizer, msg: CheckRequestMessage): CheckResult {
  const r = check(authorizer, msg);
  if (r instanceof Promise) throw new Error('Check returned a promise: the benchmark policies must not inject Secrets');
  return r;
}

async function checksPerSecond(authorizer: Authorizer, msg: CheckRequestMessage, audit: AuditJournal | undefined): Promise<number> {
  settle();
  const t0 = performance.now();
  for (let done = 0; done < CHECKS; done += BATCH) {
    for (let i = 0; i < BATCH; i++) {
      const r = syncCheck(authorizer, msg);
      authorizer.recorder?.recordDecision(r.decision, r.context, r.edge);
    }
    await yieldToLoop();
  }
  if (audit && !(await audit.flush(60_000))) throw new Error('audit log did not drain');
  return CHECKS / ((performance.now() - t0) / 1000);
}

const GRPC_REQUESTS = 40_000;
const GRPC_STREAMS = 64;

/** Checks/s the real gateway answers over gRPC with audit on or off, measured by h2load. */
async function grpcChecksPerSecond(auditOn: boolean, frameFile: string): Promise<number> {
  const gw = await startGateway(
    resolveConfig({ grpc: '127.0.0.1:0', http: '127.0.0.1:0', admin: '127.0.0.1:0', policies: ['policies'], reload: false, audit: { enabled: auditOn, checkpointIntervalSeconds: 0 } }),
    pino({ level: 'silent' }),
  );
  try {
    settle();
    const args = ['-n', String(GRPC_REQUESTS), '-c', '1', '-m', String(GRPC_STREAMS), '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', frameFile, `http://127.0.0.1:${gw.addresses.grpc}/envoy.service.auth.v3.Authorization/Check`];
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.stderr.on('data', (c: Buffer) => (text += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`h2load exited ${code}:\n${text}`))));
    });
    const ok = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(out);
    const rate = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
    if (!ok || !rate || Number(ok[1]) !== GRPC_REQUESTS) throw new Error(`h2load did not complete every request:\n${out}`);
    if (auditOn) {
      if (!(await gw.state.audit.flush(60_000))) throw new Error('audit log did not drain');
      if ((await gw.state.audit.head('acme')).seq < GRPC_REQUESTS) throw new Error('not every Check was recorded');
    }
    return Number(rate[1]);
  } finally {
    await gw.close();
  }
}

const FINISH_ENTRIES = 100_000;
const FINISH_HELD = 100_000;

/**
 * The finishing step alone, in this thread: FINISH_ENTRIES decisions encoded as a worker frames
 * them (each with its own decision id), then decoded and taken into an AuditLog over a memory
 * store (takeEntry, as the audit thread and the `--workers` primary do), flushed every 1,024 as
 * their loops yield. Once while the store grows to FINISH_HELD records, then the best of three
 * passes with it full.
 */
async function finishingCost(sample: CheckResult): Promise<{ steadyUs: number; growingUs: number; hashUs: number; entryBytes: number; recordBytes: number }> {
  const enc = new EntryEncoder(1 << 24);
  const frames: Uint16Array[] = [];
  let tenant = 'default';
  for (let i = 0; i < FINISH_ENTRIES; i++) {
    tenant = encodeDecisionEntry(enc, { ...sample.decision, decisionId: randomUUID() }, sample.context, sample.edge, 'default');
    frames.push(enc.units().slice());
    enc.taken();
  }
  const store = new MemoryStore(FINISH_HELD);
  const audit = new AuditLog({ store, log: pino({ level: 'silent' }) });
  const taker: EntryTaker = { audit, redact: rememberingRedactor(createRedactor({})), known: new KnownSecrets() };
  const pass = async (): Promise<number> => {
    const decoder = new EntryDecoder();
    settle();
    const t0 = performance.now();
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i] as Uint16Array;
      takeEntry(decoder.decode(f, 0, f.length), taker);
      if ((i & 1023) === 1023) await yieldToLoop();
    }
    if (!(await audit.flush(60_000))) throw new Error('audit log did not drain');
    return ((performance.now() - t0) * 1000) / frames.length;
  };
  const growingUs = await pass();
  const steadyUs = Math.min(await pass(), await pass(), await pass());
  const [last] = await store.read(tenant, 'audit', await store.length(tenant, 'audit'), 1);
  if (last === undefined) throw new Error('no record was stored');
  const record = Buffer.from(last.value, 'utf8');
  const hashes = 200_000;
  settle();
  const t0 = performance.now();
  for (let i = 0; i < hashes; i++) hash('sha256', record, 'hex');
  const hashUs = ((performance.now() - t0) * 1000) / hashes;
  await audit.close();
  return { steadyUs, growingUs, hashUs, entryBytes: (frames[1] as Uint16Array).byteLength, recordBytes: record.length };
}

export async function run(): Promise<void> {
  const loaded = loadPolicies(['policies']);
  if (!loaded.ok) throw new Error('policies/ does not load');
  const engine = new Engine(new PolicySet(loaded.policies));
  const def = envoyServices().authorization.Check as { requestSerialize(v: object): Buffer; requestDeserialize(b: Buffer): CheckRequestMessage };
  const msg = def.requestDeserialize(def.requestSerialize(CHECK_REQUEST));
  const providers = providerMatcher([DEFAULT_PROVIDER_HOSTS, {}]);
  const off: Authorizer = { engine: () => engine, providers };

  const best = { off: 0, inline: 0, thread: 0 };
  let records = 0;
  for (let round = 0; round < ROUNDS; round++) {
    best.off = Math.max(best.off, await checksPerSecond(off, msg, undefined));
    for (const mode of ['inline', 'thread'] as const) {
      // As openState builds it: `audit.worker` true (the default), or false.
      let audit: AuditJournal;
      let on: Authorizer;
      if (mode === 'inline') {
        const log = new AuditLog({ store: new MemoryStore(100_000), log: pino({ level: 'silent' }) });
        audit = log;
        on = { ...off, recorder: new AuditDecisionRecorder(log) };
      } else {
        const thread = new AuditThread({ store: { kind: 'memory' }, maxBuffered: 100_000, maxHeldInMemory: 100_000, batchSize: 512, redaction: {}, logLevel: 'silent' }, pino({ level: 'silent' }));
        await thread.whenReady();
        audit = thread;
        on = { ...off, recorder: new RawDecisionRecorder(thread) };
      }
      best[mode] = Math.max(best[mode], await checksPerSecond(on, msg, audit));
      const verified = await audit.verify('acme');
      if (!verified.ok) throw new Error('the recorded chain does not verify');
      records = verified.records;
      await audit.close();
    }
  }

  // recordDecision alone: what the Check handler's stack pays with the default recorder (the
  // row written into the audit thread's ring), timed in batches of BATCH calls between
  // event-loop turns (as a server makes them), the thread's work left out.
  const sample = syncCheck(off, msg);
  const thread = new AuditThread({ store: { kind: 'memory' }, maxBuffered: 100_000, maxHeldInMemory: 1000, batchSize: 512, redaction: {}, logLevel: 'silent' }, pino({ level: 'silent' }));
  await thread.whenReady();
  const recorder = new RawDecisionRecorder(thread);
  settle();
  let callNs = 0;
  // Fewer than the ring holds, so no call is refused for want of room (a refused one costs less).
  const calls = 50_000;
  for (let done = 0; done < calls; done += BATCH) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) recorder.recordDecision(sample.decision, sample.context, sample.edge);
    callNs += Number(process.hrtime.bigint() - t0);
    await yieldToLoop();
  }
  await thread.close();
  const nsPerCall = callNs / calls;
  const finishing = await finishingCost(sample);

  console.log(`\n## Audit: decision recording (in-process Check, ${CHECKS.toLocaleString('en')} checks per run, best of ${ROUNDS})\n`);
  console.log(
    table(
      ['audit', 'checks/s', 'vs off'],
      [
        ['off', Math.round(best.off).toLocaleString('en'), '1.00×'],
        ['on, audit thread (the default)', Math.round(best.thread).toLocaleString('en'), ratio(best.thread, best.off)],
        ['on, in the serving thread (audit.worker: false)', Math.round(best.inline).toLocaleString('en'), ratio(best.inline, best.off)],
      ],
    ),
  );
  console.log(`\nrecords per run: ${records.toLocaleString('en')} (chain verified); recordDecision on the caller's stack (the row written into the audit thread's ring): ${nsPerCall.toFixed(0)} ns/call`);
  console.log(
    `finishing a raw entry (what the audit thread and the --workers primary do: decode, redact, JSON, chain, store; ${FINISH_ENTRIES.toLocaleString('en')} entries of ${finishing.entryBytes} bytes, memory store holding ${FINISH_HELD.toLocaleString('en')}): ` +
      `${finishing.steadyUs.toFixed(2)} µs/record once the store is full, ${finishing.growingUs.toFixed(2)} µs while it grows; ` +
      `baseline, SHA-256 of the stored record alone (${finishing.recordBytes} bytes): ${finishing.hashUs.toFixed(2)} µs (${(finishing.steadyUs / finishing.hashUs).toFixed(1)}× and ${(finishing.growingUs / finishing.hashUs).toFixed(1)}× of it)`,
  );

  const grpcBest = { off: 0, on: 0 };
  if (spawnSync('h2load', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    console.log('\nCheck over gRPC with audit on vs off: skipped (h2load is not installed: apt-get install nghttp2-client)');
  } else {
    const frame = def.requestSerialize(CHECK_REQUEST);
    const frameFile = join(mkdtempSync(join(tmpdir(), 'joch-bench-')), 'check.grpc');
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(frame.length, 1);
    writeFileSync(frameFile, Buffer.concat([prefix, frame]));
    for (let round = 0; round < 2; round++) {
      grpcBest.off = Math.max(grpcBest.off, await grpcChecksPerSecond(false, frameFile));
      grpcBest.on = Math.max(grpcBest.on, await grpcChecksPerSecond(true, frameFile));
    }
    console.log(`\n## Audit: Check over gRPC (real gateway, h2load: 1 connection, ${GRPC_STREAMS} streams, ${GRPC_REQUESTS.toLocaleString('en')} requests, best of 2)\n`);
    console.log(
      table(
        ['audit', 'checks/s', 'vs off'],
        [
          ['off', Math.round(grpcBest.off).toLocaleString('en'), '1.00×'],
          ['on (memory store, hash-chained)', Math.round(grpcBest.on).toLocaleString('en'), ratio(grpcBest.on, grpcBest.off)],
        ],
      ),
    );
  }
  console.log(`\ntarget: Check throughput with audit on ≥ ${TARGET * 100}% of off → over gRPC ${grpcBest.off === 0 ? 'not measured' : grpcBest.on / grpcBest.off >= TARGET ? 'met' : 'NOT met'}; in process (audit thread) ${best.thread / best.off >= TARGET ? 'met' : 'NOT met'}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
