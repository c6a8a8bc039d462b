import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { JochError } from '../errors.js';
import { MemoryStore } from '../state/memory.js';
import { checkTenant, type Store } from '../state/store.js';
import { verifyChain, type VerifiedCheckpoint, type VerifyResult } from './verify.js';
import { decisionEncoded, type DecisionRow } from './decision-row.js';
import { AUDIT_LOG, chainBatch, countLost, type ChainBuffer, encodeEvent, gapEvent, GENESIS_HASH, type AuditEvent, type AuditRecord, type AuditType, type EncodedEvent, type Lost, type TextRedactor } from './record.js';

/** What records audit events: queue one (never blocks, never throws). */
export interface AuditEvents {
  record(e: AuditEvent): void;
}

/** An audit writer in this thread, which also takes decisions as finished rows (src/audit/decision-row.ts). */
export interface AuditWriter extends AuditEvents {
  recordDecision(row: DecisionRow): void;
}

/**
 * The audit log as the gateway uses it: an AuditLog in this thread, or an AuditThread
 * (src/audit/thread.ts) that runs one on a thread of its own.
 */
export interface AuditJournal extends AuditEvents {
  /** Queues an event encoded elsewhere (a `serve --workers` worker): chained as it is. */
  recordEncoded(e: EncodedEvent): void;
  /** Resolves once everything queued so far is written, or false after `timeoutMs`. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Up to `limit` records of a tenant's chain from sequence `from`. */
  read(tenant: string, from?: number, limit?: number): Promise<AuditRecord[]>;
  /** Recomputes a tenant's whole chain (see verifyChain). */
  verify(tenant: string, checkpoints?: readonly VerifiedCheckpoint[]): Promise<VerifyResult>;
  /** The last record's sequence and hash (0 and the genesis hash for an empty chain). */
  head(tenant: string): Promise<Head>;
  /** Tenants written since the last call (what a checkpoint round signs), forgotten here. */
  takeTouched(): Promise<string[]>;
  /** Marks a tenant for the next checkpoint round again (its checkpoint failed). */
  touch(tenant: string): void;
  /** Writes what it can within `timeoutMs`, then stops taking events. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * `joch_audit_overflow_total`: events a bound did not hold, each accounted for by an
 * `audit.gap` record (the AuditLog's, and with `--workers` each worker's, summed).
 */
export function overflowCounter(registry: Registry): Counter {
  return new Counter({ name: 'joch_audit_overflow_total', help: 'Audit events not held because the buffer was full (each is accounted for by an audit.gap record)', registers: [registry] });
}

/** Where hashed records go besides the store (e.g. a JSON Lines file); failures are logged, never fatal. */
export interface AuditSink {
  /** `records` are the stored texts (canonical JSON, UTF-8, one record each), in chain order; taken before the first await. */
  write(tenant: string, records: readonly Uint8Array[]): Promise<void>;
}

export interface AuditLogOptions {
  readonly store: Store;
  readonly log?: Logger;
  readonly registry?: Registry;
  /** `joch_audit_overflow_total` when the registry has it already (default: registered there). */
  readonly overflow?: Counter;
  /** Events held while the store cannot take them (default 100 000). */
  readonly maxBuffered?: number;
  /** Records hashed and written per store round trip (default 512). */
  readonly batchSize?: number;
  /** Wait before retrying after a store error (default 250 ms); a reconnect retries at once. */
  readonly retryMs?: number;
  readonly sink?: AuditSink;
  /** Applied to every record before it is hashed (the logger's redactor); absent: none. Decision rows arrive redacted. */
  readonly redact?: TextRedactor;
}

export interface Head {
  seq: number;
  hash: string;
}

/** Something to record: an event, or one already encoded (a decision, or a `--workers` worker's event). */
type Queued = AuditEvent | EncodedEvent;

/** Events waiting for one tenant; taken from `head` on, compacted now and then (no O(n) shift per batch). */
interface Queue {
  items: Queued[];
  head: number;
}

/**
 * The append-only, hash-chained audit log: one chain per tenant (a Redis Stream per tenant,
 * or an in-process log). `record` never blocks and never throws: events are queued, then
 * hashed and written in batches in the background, one batch per round trip.
 *
 * Backpressure: while the store is down or slower than the event rate, events wait in a
 * bounded buffer (`maxBuffered`, counted across tenants) and are written in order when it
 * comes back. At the bound, further events are not held: each is counted in
 * `joch_audit_overflow_total`, an error is logged once per episode, and the tenant's chain
 * gets an `audit.gap` record (how many, from when to when) before its next record, so the
 * loss is itself on the record. Nothing is dropped silently and the hot path never waits.
 *
 * Several replicas append to one tenant's chain safely: a batch is written only if the chain
 * still ends where this writer last saw it (compare-and-append); otherwise the writer reloads
 * the head and re-hashes the batch.
 */
export class AuditLog implements AuditJournal, AuditWriter {
  private readonly store: Store;
  private readonly pending = new Map<string, Queue>();
  private readonly gaps = new Map<string, Lost>();
  private readonly heads = new Map<string, Head>();
  private pendingCount = 0;
  private draining = false;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private overflowing = false;
  private storeErrorLogged = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private readonly maxBuffered: number;
  private readonly batchSize: number;
  private readonly retryMs: number;
  private readonly metrics: { written: Counter<'type'>; overflow: Counter; errors: Counter; buffered: Gauge } | undefined;
  /** Tenants written since the last checkpoint round. */
  private readonly touched = new Set<string>();
  /**
   * Batches are written into this one buffer when the store copies what it appends before
   * its first await (memory stores), so no batch allocates; a Redis client may hold on to
   * what it sends, so there each batch gets a buffer of its own.
   */
  private readonly chainBuffer: ChainBuffer | undefined;

  constructor(private readonly options: AuditLogOptions) {
    this.store = options.store;
    this.chainBuffer = options.store.kind === 'memory' ? { bytes: Buffer.allocUnsafeSlow(256 * 1024) } : undefined;
    this.maxBuffered = options.maxBuffered ?? 100_000;
    this.batchSize = options.batchSize ?? 512;
    this.retryMs = options.retryMs ?? 250;
    const registers = options.registry ? [options.registry] : [];
    this.metrics = options.registry
      ? {
          written: new Counter({ name: 'joch_audit_records_total', help: 'Audit records written, by type', labelNames: ['type'] as const, registers }),
          overflow: options.overflow ?? overflowCounter(options.registry),
          errors: new Counter({ name: 'joch_audit_store_errors_total', help: 'Failed audit writes (retried)', registers }),
          buffered: new Gauge({ name: 'joch_audit_buffered', help: 'Audit events waiting to be written', registers }),
        }
      : undefined;
    this.store.onAvailability((up) => {
      if (up && this.pendingCount + this.gaps.size > 0) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
        this.heads.clear(); // other replicas may have written while we were away
        this.schedule();
      }
    });
  }

  /** Queues an event; never blocks, never throws (see the class comment for what happens at the bound). */
  record(e: AuditEvent): void {
    this.enqueue(e.tenant, Number.isFinite(e.time) ? e : { ...e, time: Date.now() });
  }

  /** Queues a decision (AuditDecisionRecorder builds the row); as `record`. */
  recordDecision(row: DecisionRow): void {
    if (!Number.isFinite(row[0])) row[0] = Date.now();
    this.enqueue(row[1], decisionEncoded(row));
  }

  /** Queues an event encoded elsewhere (a `serve --workers` worker or the serving thread, with its own redactor and clock): chained as it is. */
  recordEncoded(e: EncodedEvent): void {
    this.enqueue(e.tenant, e);
  }

  private enqueue(tenant: string, item: Queued): void {
    if (this.pendingCount >= this.maxBuffered || this.closed) {
      this.overflow(tenant);
      return;
    }
    let q = this.pending.get(tenant);
    if (!q) this.pending.set(tenant, (q = { items: [], head: 0 }));
    q.items.push(item);
    this.pendingCount++;
    this.schedule();
  }

  /** Events waiting to be written. */
  get buffered(): number {
    return this.pendingCount;
  }

  /** Resolves once everything queued so far is written, or false after `timeoutMs`. */
  async flush(timeoutMs = 10_000): Promise<boolean> {
    if (this.pendingCount + this.gaps.size === 0 && !this.draining) return true;
    this.schedule();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** Up to `limit` records of a tenant's chain from sequence `from`. */
  async read(tenant: string, from = 1, limit = 1000): Promise<AuditRecord[]> {
    const entries = await this.store.read(checkTenant(tenant), AUDIT_LOG, from, limit);
    return entries.map((e) => JSON.parse(e.value) as AuditRecord);
  }

  /** Recomputes a tenant's whole chain (see verifyChain). */
  async verify(tenant: string, checkpoints: readonly VerifiedCheckpoint[] = []): Promise<VerifyResult> {
    checkTenant(tenant);
    const all = [];
    const first = this.store instanceof MemoryStore ? await this.store.oldestHeld(tenant, AUDIT_LOG) : 1;
    for (let from = first; ; ) {
      const page = await this.store.read(tenant, AUDIT_LOG, from, 5000);
      all.push(...page);
      if (page.length < 5000) break;
      from += page.length;
    }
    return verifyChain(all, checkpoints, first);
  }

  /** The last record's sequence and hash (0 and the genesis hash for an empty chain). */
  async head(tenant: string): Promise<Head> {
    const seq = await this.store.length(checkTenant(tenant), AUDIT_LOG);
    if (seq === 0) return { seq: 0, hash: GENESIS_HASH };
    const [last] = await this.store.read(tenant, AUDIT_LOG, seq, 1);
    if (!last) throw new JochError('JOCH_AUDIT_CORRUPT', `the audit log of tenant "${tenant}" has ${seq} entries but record ${seq} cannot be read`);
    return { seq, hash: (JSON.parse(last.value) as AuditRecord).hash };
  }

  takeTouched(): Promise<string[]> {
    const tenants = [...this.touched];
    this.touched.clear();
    return Promise.resolve(tenants);
  }

  touch(tenant: string): void {
    this.touched.add(tenant);
  }

  /** Writes what it can within `timeoutMs`, then stops taking events. */
  async close(timeoutMs = 5000): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.pendingCount > 0) this.options.log?.error({ buffered: this.pendingCount }, 'audit log closed with records not yet written (the store was unavailable)');
  }

  private overflow(tenant: string): void {
    countLost(this.gaps, tenant, Date.now());
    this.metrics?.overflow.inc();
    if (!this.overflowing) {
      this.overflowing = true;
      this.options.log?.error({ maxBuffered: this.maxBuffered, closed: this.closed }, 'audit buffer full: further events are counted and recorded as an audit.gap until the store catches up');
    }
  }

  private schedule(): void {
    if (this.draining || this.retryTimer !== undefined || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let rounds = 0; this.pendingCount + this.gaps.size > 0; rounds++) {
        for (const tenant of new Set([...this.gaps.keys(), ...this.pending.keys()])) await this.writeBatch(tenant);
        // Let I/O (checks being answered) in between rounds: a memory store never waits on its own.
        if (rounds % 4 === 3) await new Promise((resolve) => setImmediate(resolve));
      }
      this.overflowing = false;
      this.storeErrorLogged = false;
    } catch (err) {
      this.metrics?.errors.inc();
      if (!this.storeErrorLogged) {
        this.storeErrorLogged = true;
        this.options.log?.error({ code: err instanceof JochError ? err.code : undefined, buffered: this.pendingCount }, 'audit records cannot be written now; holding them and retrying');
      }
      this.heads.clear();
      if (!this.closed) this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.schedule();
      }, this.retryMs);
    } finally {
      this.draining = false;
      this.metrics?.buffered.set(this.pendingCount);
      if (this.pendingCount + this.gaps.size === 0) for (const w of this.idleWaiters.splice(0)) w();
      else this.schedule();
    }
  }

  private async writeBatch(tenant: string): Promise<void> {
    const q = this.pending.get(tenant) ?? { items: [], head: 0 };
    const gap = this.gaps.get(tenant);
    const take = Math.min(q.items.length - q.head, gap ? this.batchSize - 1 : this.batchSize);
    const now = Date.now();
    const items: EncodedEvent[] = q.items.slice(q.head, q.head + take).map((e) => ('actorJson' in e ? e : encodeEvent(e, now, this.options.redact)));
    if (gap) items.unshift(encodeEvent(gapEvent(tenant, gap, 'buffer-full'), now, this.options.redact));
    if (items.length === 0) {
      this.pending.delete(tenant);
      return;
    }
    for (;;) {
      let head = this.heads.get(tenant);
      if (!head) {
        head = await this.head(tenant);
        this.heads.set(tenant, head);
      }
      const { records, hash: prev } = chainBatch(items, head.seq + 1, head.hash, this.chainBuffer);
      const result = await this.store.append(tenant, AUDIT_LOG, head.seq, records);
      if (!result.ok) {
        this.heads.delete(tenant); // another writer got there first: reload the head and re-hash
        continue;
      }
      this.heads.set(tenant, { seq: head.seq + records.length, hash: prev });
      q.head += take;
      this.pendingCount -= take;
      if (q.head === q.items.length) this.pending.delete(tenant);
      else if (q.head > 4096 && q.head * 2 > q.items.length) {
        q.items = q.items.slice(q.head);
        q.head = 0;
      }
      if (gap) this.gaps.delete(tenant);
      this.touched.add(tenant);
      if (this.metrics) for (const [type, n] of countByType(items)) this.metrics.written.inc({ type }, n);
      if (this.options.sink) {
        await this.options.sink.write(tenant, records).catch((err: Error) => this.options.log?.error({ err: err.message }, 'audit file sink failed'));
      }
      return;
    }
  }
}

function countByType(items: readonly EncodedEvent[]): Map<AuditType, number> {
  const counts = new Map<AuditType, number>();
  for (const { type } of items) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}
