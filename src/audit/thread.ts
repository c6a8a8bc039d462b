import { Worker } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DecisionContext } from '../context/types.js';
import { JochError } from '../errors.js';
import type { RedactorOptions } from '../log.js';
import type { Decision } from '../policy/decision.js';
import { knownSecrets } from '../secrets/known.js';
import type { StateSettings } from '../state/settings.js';
import { checkTenant } from '../state/store.js';
import { decisionTenant } from './decision-row.js';
import { encodeDecisionEntry, eventEntry, secretEntry } from './entries.js';
import { overflowCounter, type AuditJournal, type Head } from './log.js';
import { countLost, encodeEvent, gapEvent, type AuditEvent, type AuditRecord, type EncodedEvent, type Lost, type TextRedactor } from './record.js';
import type { RawDecisionWriter } from './recorder.js';
import type { EntryValue } from './entry-codec.js';
import { ringBuffer, RingWriter } from './ring.js';
import type { VerifiedCheckpoint, VerifyResult } from './verify.js';

export interface AuditThreadSettings {
  readonly store: StateSettings['store'];
  readonly file?: string;
  readonly maxBuffered: number;
  readonly maxHeldInMemory: number;
  readonly batchSize: number;
  /** The logs' redaction rules: decision rows are redacted on the thread with them. */
  readonly redaction: Omit<RedactorOptions, 'known'>;
  readonly logLevel: string;
}

export interface ThreadData {
  readonly ring: SharedArrayBuffer;
  readonly settings: AuditThreadSettings;
  /** Secret values known when the thread starts; later ones come through the ring. */
  readonly known: readonly string[];
}

type Call =
  | { op: 'flush'; timeoutMs: number }
  | { op: 'read'; tenant: string; from: number; limit: number }
  | { op: 'verify'; tenant: string; checkpoints: readonly VerifiedCheckpoint[] }
  | { op: 'head'; tenant: string }
  | { op: 'takeTouched' }
  | { op: 'touch'; tenant: string }
  | { op: 'close'; timeoutMs: number };
export type ToThread = Call & { readonly id: number };
export interface FromThread {
  readonly id?: number;
  readonly result?: unknown;
  readonly error?: { readonly message: string; readonly code?: string };
  readonly log?: string;
  readonly metrics?: { name: string; labels: Record<string, string>; value: number }[];
  readonly ready?: true;
}

/** The ring: ≈ 66,000 decisions of the bench's shape (≈ 250 bytes each, its repeated strings one unit), ≈ 2 s at saturation. */
const RING_BYTES = 16 * 1024 * 1024;
/** Restarts of a thread that died, within RESTART_WINDOW_MS, before recording stops. */
const MAX_RESTARTS = 3;
const RESTART_WINDOW_MS = 60_000;

/**
 * The audit log on a thread of its own (`audit.worker: true`, the default). The serving thread
 * only copies each decision's row (references and slices of the request, no JSON, no hashing)
 * into a shared ring (src/audit/ring.ts) and publishes it once per event-loop turn; the audit
 * thread (src/audit/thread-entry.ts) redacts, encodes, chains, stores and writes the file sink,
 * with its own store connection. That leaves the Check's thread ≈ 1.5 µs of audit work per
 * decision instead of ≈ 10–12 µs (≈ 3 µs more per Check measured at saturation, with the
 * audit thread busy on the other core).
 *
 * Other events (admin calls, approvals, overrides) are encoded and redacted here, with this
 * thread's redactor, and go through the same ring, so records keep the order they were made in.
 * Secret values the broker learns go through the ring too, ahead of any decision that could
 * carry them, so the thread's redactor knows them in time.
 *
 * Backpressure: the store's outages are absorbed by the thread's AuditLog (`maxBuffered`, as
 * in-process). If the thread falls behind by a whole ring, further entries are not held: each
 * is counted in `joch_audit_overflow_total`, an error is logged once per episode, and the
 * tenant's chain gets an `audit.gap` record before its next one. If the thread dies it is
 * started again on the same ring, at most 3 times a minute. What the dead thread held is lost
 * (with a memory store, every record not in a file), and so are entries it had published to
 * it but not read that repeat strings of the last one it read: the new thread cannot read
 * them, and counts them in `joch_audit_overflow_total` with an error logged.
 */
export class AuditThread implements AuditJournal, RawDecisionWriter {
  private readonly ring = ringBuffer(RING_BYTES);
  private readonly writer = new RingWriter(this.ring);
  private worker: Worker;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private scheduled = false;
  private closed = false;
  private failed = false;
  /** The first thread opened its store: until then, a thread that exits is not started again. */
  private opened = false;
  private restarts: number[] = [];
  private readonly gaps = new Map<string, Lost>();
  private overflowing = false;
  private readonly overflow: Counter | undefined;
  private readonly mirrored = new Map<string, Counter | Gauge>();
  private readonly last = new Map<string, number>();
  private readonly unsubscribe: () => void;
  private readonly ready: Promise<void>;

  constructor(
    private readonly settings: AuditThreadSettings,
    private readonly log: Logger,
    registry?: Registry,
    private readonly redact?: TextRedactor,
  ) {
    this.overflow = registry ? overflowCounter(registry) : undefined;
    if (registry) {
      const registers = [registry];
      this.mirrored.set('joch_audit_records_total', new Counter({ name: 'joch_audit_records_total', help: 'Audit records written, by type', labelNames: ['type'] as const, registers }));
      this.mirrored.set('joch_audit_store_errors_total', new Counter({ name: 'joch_audit_store_errors_total', help: 'Failed audit writes (retried)', registers }));
      this.mirrored.set('joch_audit_buffered', new Gauge({ name: 'joch_audit_buffered', help: 'Audit events waiting to be written', registers }));
      if (this.overflow) this.mirrored.set('joch_audit_overflow_total', this.overflow);
    }
    this.unsubscribe = knownSecrets.onAdd((value) => this.put(secretEntry(value), undefined));
    this.worker = this.start();
    this.ready = this.started(this.worker).then(() => {
      this.opened = true;
    });
  }

  /** Resolves once the thread has opened its store (and loaded the audit file), or rejects with why it could not. */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Queues an event (encoded and redacted here); never blocks, never throws. */
  record(e: AuditEvent): void {
    this.recordEncoded(encodeEvent(e, Date.now(), this.redact));
  }

  /** Queues a decision: its raw row written straight into the ring (emitDecisionRow); the thread finishes (redacts) it. */
  recordDecisionOf(decision: Decision, ctx: DecisionContext | undefined, edge: string, defaultTenant: string): void {
    if (!this.open()) return this.lose(decisionTenant(ctx, defaultTenant));
    try {
      const tenant = encodeDecisionEntry(this.writer, decision, ctx, edge, defaultTenant);
      if (!this.writer.commit()) return this.lose(tenant);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'audit entry not recorded');
      return this.lose(decisionTenant(ctx, defaultTenant));
    }
    this.schedulePublish();
  }

  recordEncoded(e: EncodedEvent): void {
    this.put(eventEntry(e), e.tenant);
  }

  async flush(timeoutMs = 10_000): Promise<boolean> {
    this.publish();
    return (await this.call({ op: 'flush', timeoutMs }, timeoutMs + 1000).catch(() => false)) === true;
  }

  async read(tenant: string, from = 1, limit = 1000): Promise<AuditRecord[]> {
    return (await this.call({ op: 'read', tenant: checkTenant(tenant), from, limit })) as AuditRecord[];
  }

  async verify(tenant: string, checkpoints: readonly VerifiedCheckpoint[] = []): Promise<VerifyResult> {
    return (await this.call({ op: 'verify', tenant: checkTenant(tenant), checkpoints })) as VerifyResult;
  }

  async head(tenant: string): Promise<Head> {
    return (await this.call({ op: 'head', tenant: checkTenant(tenant) })) as Head;
  }

  takeTouched(): Promise<string[]> {
    return this.call({ op: 'takeTouched' }) as Promise<string[]>;
  }

  touch(tenant: string): void {
    void this.call({ op: 'touch', tenant }).catch(() => undefined);
  }

  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    this.publish();
    this.closed = true;
    this.unsubscribe();
    // A thread that is not running (it could not start, or died once too often) has nothing to write.
    if (!this.failed) await this.call({ op: 'close', timeoutMs }, timeoutMs + 1000).catch((err: Error) => this.log.error({ err: err.message }, 'audit thread did not close cleanly'));
    this.failed = true; // its exit is expected now
    await this.worker.terminate();
  }

  private put(entry: EntryValue, tenant: string | undefined): void {
    if (!this.open() || !this.write(entry)) {
      if (tenant !== undefined) this.lose(tenant);
      return;
    }
    this.schedulePublish();
  }

  /** Whether entries can go into the ring now: not closed or failed, and any gaps written first. */
  private open(): boolean {
    return !this.closed && !this.failed && (this.gaps.size === 0 || this.writeGaps());
  }

  private schedulePublish(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.publishNow);
    }
  }

  /** False when the ring has no room now, or never will for this entry (larger than the ring: logged). */
  private write(entry: EntryValue): boolean {
    try {
      return this.writer.write(entry);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'audit entry not recorded');
      return false;
    }
  }

  private readonly publishNow = (): void => {
    this.scheduled = false;
    this.writer.publish();
  };

  /** Publishes now and wakes the thread (a flush or close is about to ask it something). */
  private publish(): void {
    if (this.gaps.size > 0) this.writeGaps();
    this.writer.publish(true);
  }

  /** Puts each tenant's lost count on its chain; false while the ring still has no room. */
  private writeGaps(): boolean {
    for (const [tenant, gap] of this.gaps) {
      if (!this.write(eventEntry(encodeEvent(gapEvent(tenant, gap, 'buffer-full'), Date.now())))) return false;
      this.gaps.delete(tenant);
    }
    this.overflowing = false;
    return true;
  }

  private lose(tenant: string): void {
    countLost(this.gaps, tenant, Date.now());
    this.overflow?.inc();
    if (!this.overflowing) {
      this.overflowing = true;
      if (this.closed || this.failed) this.log.error({ closed: this.closed }, 'audit log closed or its thread stopped: further events are counted, not recorded');
      else this.log.error('audit ring full (the audit thread is behind): further events are counted and recorded as an audit.gap once it catches up');
    }
  }

  private call(c: Call, timeoutMs?: number): Promise<unknown> {
    if (this.failed) return Promise.reject(new JochError('JOCH_AUDIT_UNAVAILABLE', 'the audit thread is not running'));
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        this.calls.delete(id);
        reject(new JochError('JOCH_AUDIT_UNAVAILABLE', `the audit thread did not answer ${c.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.calls.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.worker.postMessage({ ...c, id } satisfies ToThread);
    });
  }

  private start(): Worker {
    const data: ThreadData = { ring: this.ring, settings: this.settings, known: knownSecrets.held() };
    const w = spawnThread(data);
    w.on('message', (m: FromThread) => this.onMessage(m));
    w.on('error', (err) => this.log.error({ err: err.message }, 'audit thread failed'));
    w.on('exit', (code) => this.onExit(w, code));
    return w;
  }

  private started(w: Worker): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromThread): void => {
        if (m.ready) done(undefined);
      };
      const onExit = (code: number): void => done(new JochError('JOCH_AUDIT_UNAVAILABLE', `the audit thread exited with code ${code} before it was ready`));
      const onError = (err: Error): void => done(new JochError('JOCH_AUDIT_UNAVAILABLE', `the audit thread could not start: ${err.message}`));
      const done = (err: Error | undefined): void => {
        w.off('message', onMessage).off('exit', onExit).off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      w.on('message', onMessage).on('exit', onExit).on('error', onError);
    });
  }

  private onMessage(m: FromThread): void {
    if (m.log !== undefined) this.relayLog(m.log);
    if (m.metrics !== undefined) this.mirror(m.metrics);
    if (m.id === undefined) return;
    const waiter = this.calls.get(m.id);
    if (waiter === undefined) return;
    this.calls.delete(m.id);
    if (m.error) waiter.reject(new JochError(m.error.code ?? 'JOCH_AUDIT', m.error.message));
    else waiter.resolve(m.result);
  }

  private onExit(w: Worker, code: number): void {
    if (w !== this.worker) return;
    for (const waiter of this.calls.values()) waiter.reject(new JochError('JOCH_AUDIT_UNAVAILABLE', `the audit thread exited with code ${code}`));
    this.calls.clear();
    if (this.failed || !this.opened) {
      this.failed = true; // closed, or it could not open its store: whenReady says why
      return;
    }
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    if (this.restarts.length >= MAX_RESTARTS) {
      this.failed = true;
      this.log.error({ code }, 'audit thread exited again: no longer recording audit events (each is counted in joch_audit_overflow_total)');
      return;
    }
    this.restarts.push(now);
    this.log.error({ code }, 'audit thread exited; starting it again on the same ring');
    // The new thread knows no string of what the old one read; its counters start at 0.
    this.writer.resync();
    this.last.clear();
    this.worker = this.start();
    this.started(this.worker).catch((err: Error) => this.log.error({ err: err.message }, 'audit thread did not start again'));
  }

  /** A line the thread logged, through this thread's logger (its level, destination, redaction). */
  private relayLog(line: string): void {
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const { level, msg, ...fields } = entry;
    const label = pino.levels.labels[Number(level)] as 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'fatal' | undefined;
    if (label !== undefined) this.log[label](fields, typeof msg === 'string' ? msg : '');
  }

  /** The thread's metric values into this registry's metrics of the same names (counters by their increase). */
  private mirror(values: NonNullable<FromThread['metrics']>): void {
    for (const { name, labels, value } of values) {
      const metric = this.mirrored.get(name);
      if (metric === undefined) continue;
      if (metric instanceof Gauge) {
        metric.set(labels, value);
        continue;
      }
      const key = `${name}${JSON.stringify(labels)}`;
      const delta = value - (this.last.get(key) ?? 0);
      this.last.set(key, value);
      if (delta > 0) metric.inc(labels, delta);
    }
  }
}

/**
 * The built thread entry (dist/audit/thread-entry.js) next to this module; when running from
 * the TypeScript sources (tests, tsx), the .ts entry through tsx's loader, a dev dependency.
 */
function spawnThread(data: ThreadData): Worker {
  // The thread needs none of this process's Node flags (some, like --input-type, would stop it).
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./thread-entry.js', import.meta.url), { execArgv: [], workerData: data });
  const entry = new URL('./thread-entry.ts', import.meta.url).href;
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`, { eval: true, execArgv: [], workerData: data });
}
