// The audit thread's entry (started by src/audit/thread.ts): the AuditLog, its store and sink live here.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { JochError } from '../errors.js';
import { createRedactor, rememberingRedactor } from '../log.js';
import { KnownSecrets } from '../secrets/known.js';
import { MemoryStore } from '../state/memory.js';
import { openRedisStore } from '../state/redis.js';
import type { Store } from '../state/store.js';
import { takeEntry, type EntryTaker } from './entries.js';
import { overflowCounter } from './log.js';
import { openAuditLog } from './open-log.js';
import type { EntryValue } from './entry-codec.js';
import { RingReader } from './ring.js';
import type { FromThread, ThreadData, ToThread } from './thread.js';

/**
 * Linux: this thread yields the CPU to the serving thread when both want it (nice +5, for this
 * thread only: setpriority on a thread id). Audit work waits in the ring meanwhile; the
 * ring's bound (and its audit.gap records) applies as ever. Elsewhere: left as it is.
 */
function yieldToServing(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + 5));
  } catch {
    // No /proc, or not allowed: the thread runs at the process's priority.
  }
}
yieldToServing();

const port = parentPort;
if (port === null) throw new Error('thread-entry.ts runs as a worker thread only');
const data = workerData as ThreadData;
const s = data.settings;

// Log lines go to the main thread's logger (its level, destination and redaction).
const log = pino({ level: s.logLevel, base: null, timestamp: false }, { write: (line: string) => port.postMessage({ log: line } satisfies FromThread) });
const registry = new Registry();
/** Counts, besides the log's own overflows, ring entries this thread could not read. */
const lost = overflowCounter(registry);
const store: Store = s.store.kind === 'redis' ? await openRedisStore(s.store.redis, log) : new MemoryStore(s.maxHeldInMemory);
const audit = await openAuditLog(store, s, { log, registry, overflow: lost });
const known = new KnownSecrets();
for (const v of data.known) known.add(v);
const redact = rememberingRedactor(createRedactor({ known, ...s.redaction }), known);
const taker: EntryTaker = { audit, redact, known };
const reader = new RingReader(data.ring);
/** Entries that could not be read since the last report. */
let unreadable = 0;
let closing = false;
/** How long the thread sleeps on an empty ring unless woken: the serving thread wakes it only every 256 entries (src/audit/ring.ts). */
const IDLE_WAIT_MS = 5;

/** The next entry published, or undefined; one that cannot be read is counted and skipped. */
function next(): EntryValue | undefined {
  for (;;) {
    try {
      return reader.next()?.value;
    } catch (err) {
      if (unreadable++ === 0) log.error({ err: (err as Error).message }, 'audit thread: entries in the ring could not be read and are lost (counted in joch_audit_overflow_total)');
      lost.inc();
    }
  }
}

/** Takes everything published so far into the audit log. */
function drainRing(): void {
  for (let e = next(); e !== undefined; e = next()) take(e);
}

function take(entry: EntryValue): void {
  try {
    takeEntry(entry, taker);
  } catch (err) {
    log.error({ err: (err as Error).message }, 'audit thread: an entry from the ring was not recorded');
  }
}

/** Takes entries as they are published: in chunks, so the log's own writing gets turns in between. */
async function consume(): Promise<void> {
  while (!closing) {
    let n = 0;
    for (let e = next(); e !== undefined; e = next()) {
      take(e);
      if (++n === 1024) break;
    }
    if (n === 0) unreadable = 0;
    if (n === 1024) await nextTurn();
    else await reader.waitForMore(IDLE_WAIT_MS);
  }
}

/** The log's metrics as they stand, for the main thread's registry. */
async function metrics(): Promise<FromThread['metrics']> {
  const out: NonNullable<FromThread['metrics']> = [];
  for (const m of await registry.getMetricsAsJSON()) for (const v of m.values) out.push({ name: m.name, labels: v.labels as Record<string, string>, value: v.value });
  return out;
}

port.on('message', (m: ToThread) => {
  void (async () => {
    try {
      let result: unknown;
      switch (m.op) {
        case 'flush':
          drainRing();
          result = await audit.flush(m.timeoutMs);
          break;
        case 'read':
          result = await audit.read(m.tenant, m.from, m.limit);
          break;
        case 'verify':
          result = await audit.verify(m.tenant, m.checkpoints);
          break;
        case 'head':
          result = await audit.head(m.tenant);
          break;
        case 'takeTouched':
          result = await audit.takeTouched();
          break;
        case 'touch':
          audit.touch(m.tenant);
          break;
        case 'close':
          drainRing();
          closing = true;
          await audit.close(m.timeoutMs);
          await store.close();
          break;
      }
      port.postMessage({ id: m.id, result, metrics: await metrics() } satisfies FromThread);
    } catch (err) {
      port.postMessage({ id: m.id, error: { message: (err as Error).message, ...(err instanceof JochError ? { code: err.code } : {}) } } satisfies FromThread);
    }
  })();
});

// Metrics also go over now and then, so a scrape between flushes is at most this late.
setInterval(() => void metrics().then((snapshot) => port.postMessage({ metrics: snapshot } satisfies FromThread)), 1000).unref();
port.postMessage({ ready: true } satisfies FromThread);
void consume();
