import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import type { DecisionContext } from '../context/types.js';
import { decisionTenant } from '../audit/decision-row.js';
import { encodeDecisionEntry, eventEntry, secretEntry, takeEntry, type EntryTaker } from '../audit/entries.js';
import { EntryDecoder, EntryEncoder, lengthAt, lengthTo, type EntryValue } from '../audit/entry-codec.js';
import { overflowCounter, type AuditEvents } from '../audit/log.js';
import type { RawDecisionWriter } from '../audit/recorder.js';
import { countLost, encodeEvent, gapEvent, type AuditEvent, type Lost, type TextRedactor } from '../audit/record.js';
import type { Decision } from '../policy/decision.js';
import { knownSecrets, type KnownSecrets } from '../secrets/known.js';

/**
 * Audit entries go from a worker to the primary on a pipe of their own, not over the IPC
 * channel: the primary forks each worker with an extra stdio pipe at this descriptor. They are
 * the audit thread's entries (src/audit/entries.ts) in its encoding (src/audit/entry-codec.ts):
 * raw decision rows, whose strings equal to the previous row's take one unit each, so ≈ 250
 * bytes a decision in the bench where its record is ≈ 1 KB. The primary finishes them (redaction,
 * JSON, hash) as the audit thread does. Each entry is framed by its length in units (two units);
 * both ends are processes of one machine, so the units travel in its byte order.
 */
export const AUDIT_FD = 4;
/** The largest entry, in units (16 MiB): a longer frame can only be a corrupted pipe. */
const MAX_ENTRY_UNITS = 8 * 1024 * 1024;

/** Where a worker writes its audit entries: the pipe at AUDIT_FD (node:net's Socket), a stream in tests. */
export interface AuditOutput {
  /** Bytes written but not yet taken by the pipe. */
  readonly writableLength: number;
  write(bytes: Uint8Array, written: (err?: Error | null) => void): boolean;
}

export interface ForwardingOptions {
  /** Redacts events (encoded here); decision rows are redacted by the primary. */
  readonly redact?: TextRedactor;
  /** How long the first entry of a batch may wait (default 5 ms). */
  readonly windowMs?: number;
  /** Entries sent at once when this many wait (default 1024). */
  readonly maxBatch?: number;
  /** Bytes let wait for the pipe (the primary not reading) before entries are no longer held (default 64 MiB). */
  readonly maxUnsentBytes?: number;
  /** The secret values to pass on to the primary's redaction (default: this process's). */
  readonly known?: KnownSecrets;
  readonly log?: Logger;
  /** Where `joch_audit_overflow_total` counts the entries not held (summed with the primary's own). */
  readonly registry?: Registry;
}

/** The worker's end of its audit pipe. A primary that went away loses what is unsent: it owns the chain. */
export function auditPipe(): AuditOutput {
  const socket = new Socket({ fd: AUDIT_FD, readable: false, writable: true });
  socket.on('error', () => {});
  return socket;
}

/**
 * A worker's audit log: a decision's raw row is encoded on the Check's stack (references and
 * slices, as into the audit thread's ring), an event is encoded and redacted here, and they go
 * to the primary, which redacts the rows, writes the JSON and owns the one hash chain per tenant
 * (no compare-and-append races between workers). Secret values this worker learns go first, so
 * the primary's redaction knows them before any row that could carry them.
 *
 * Entries travel in batches: at most `windowMs` after the first of a batch, or at once when
 * `maxBatch` wait. The primary's AuditLog applies its bound and backpressure rules on arrival.
 * Here, the bound is `maxUnsentBytes` waiting for the pipe: past it (a primary that stopped
 * reading) further entries are not held but counted per tenant, an error is logged once per
 * episode, and once the pipe takes entries again each tenant's chain gets an `audit.gap` record
 * (how many, from when to when) before anything newer, as the primary does for its own bound.
 * Secret values are always held: losing one would let a later row through unredacted.
 */
export class ForwardingAudit implements AuditEvents, RawDecisionWriter {
  private readonly encoder = new EntryEncoder(MAX_ENTRY_UNITS);
  private bytes: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  /** `bytes` as units (its own memory: allocUnsafeSlow is not pooled, so it starts at 0). */
  private units = new Uint16Array(this.bytes.buffer, 0, this.bytes.length >> 1);
  /**
   * Batch buffers the pipe has finished with, reused: a fresh buffer per batch is new external
   * memory each time, which V8 answers with extra collections (measured with --trace-gc: most
   * of a worker's scavenges were "external memory pressure").
   */
  private readonly spare: Buffer[] = [];
  /** Units of the batch so far. */
  private used = 0;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly gaps = new Map<string, Lost>();
  private readonly redact: TextRedactor | undefined;
  private readonly windowMs: number;
  private readonly maxBatch: number;
  private readonly maxUnsentBytes: number;
  private readonly lost: Counter | undefined;
  private readonly log: Logger | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly out: AuditOutput,
    options: ForwardingOptions = {},
  ) {
    this.redact = options.redact;
    this.log = options.log;
    this.windowMs = options.windowMs ?? 5;
    this.maxBatch = options.maxBatch ?? 1024;
    this.maxUnsentBytes = options.maxUnsentBytes ?? 64 * 1024 * 1024;
    this.lost = options.registry ? overflowCounter(options.registry) : undefined;
    const known = options.known ?? knownSecrets;
    for (const value of known.held()) this.put(secretEntry(value));
    this.unsubscribe = known.onAdd((value) => this.put(secretEntry(value)));
  }

  record(e: AuditEvent): void {
    // Stamped here: the event happened now, not when the primary gets it.
    this.put(eventEntry(encodeEvent(e, Date.now(), this.redact)), e.tenant);
  }

  recordDecisionOf(decision: Decision, ctx: DecisionContext | undefined, edge: string, defaultTenant: string): void {
    if (!this.open()) return this.lose(decisionTenant(ctx, defaultTenant));
    try {
      encodeDecisionEntry(this.encoder, decision, ctx, edge, defaultTenant);
    } catch (err) {
      this.log?.error({ err: (err as Error).message }, 'audit entry not recorded');
      return this.lose(decisionTenant(ctx, defaultTenant));
    }
    this.append();
  }

  /** Sends what is waiting; resolves once the pipe has taken it (or failed: the primary is gone). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Still not taking entries: look again later, so the gap is recorded even if nothing newer comes.
    if (this.gaps.size > 0 && !this.open()) this.timer = setTimeout(() => void this.flush(), this.windowMs);
    if (this.used === 0) return Promise.resolve();
    const whole = this.bytes;
    const bytes = whole.subarray(0, this.used * 2);
    // The pipe holds on to the bytes until written: the next batch gets another buffer.
    this.use(this.spare.pop() ?? Buffer.allocUnsafeSlow(whole.length));
    this.used = 0;
    this.count = 0;
    return new Promise(
      (resolve) =>
        void this.out.write(bytes, () => {
          if (whole.length === this.bytes.length && this.spare.length < 2) this.spare.push(whole);
          resolve();
        }),
    );
  }

  /** Sends what is waiting and stops passing on secret values. */
  close(): Promise<void> {
    this.unsubscribe();
    return this.flush();
  }

  /** Queues an entry; without a tenant (a secret value), past the bound too. */
  private put(entry: EntryValue, tenant?: string): void {
    if (tenant !== undefined && !this.open()) return this.lose(tenant);
    try {
      this.encoder.begin();
      this.encoder.value(entry);
    } catch (err) {
      this.log?.error({ err: (err as Error).message }, 'audit entry not recorded');
      if (tenant !== undefined) this.lose(tenant);
      return;
    }
    this.append();
  }

  /** Whether entries can be held now: the pipe is within the bound, and any gaps are queued first. */
  private open(): boolean {
    if (this.out.writableLength > this.maxUnsentBytes) return false;
    if (this.gaps.size > 0) this.queueGaps();
    return true;
  }

  /** Adds the entry encoded last to the batch, behind its length. */
  private append(): void {
    const entry = this.encoder.units();
    const n = entry.length;
    if (this.used + 2 + n > this.units.length) this.grow(this.used + 2 + n);
    const u = this.units;
    lengthTo(u, this.used, n);
    u.set(entry, this.used + 2);
    this.used += 2 + n;
    this.encoder.taken();
    if (++this.count >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  private grow(units: number): void {
    const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, units * 2));
    this.spare.length = 0;
    this.bytes.copy(grown, 0, 0, this.used * 2);
    this.use(grown);
  }

  private use(bytes: Buffer): void {
    this.bytes = bytes;
    this.units = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1);
  }

  private lose(tenant: string): void {
    if (this.gaps.size === 0) this.log?.error({ maxUnsentBytes: this.maxUnsentBytes }, 'the primary is not taking audit records: further ones are counted and recorded as an audit.gap once it does');
    countLost(this.gaps, tenant, Date.now());
    this.lost?.inc();
    // The gap record goes out with the next batch, once the pipe takes entries again.
    this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  /** One `audit.gap` entry per tenant that lost entries; ends the episode. */
  private queueGaps(): void {
    const now = Date.now();
    const gaps = [...this.gaps];
    this.gaps.clear();
    for (const [tenant, gap] of gaps) this.put(eventEntry(encodeEvent(gapEvent(tenant, gap, 'worker-buffer-full'), now, this.redact)));
  }
}

/**
 * The primary's side of one worker's audit pipe: every entry is taken (src/audit/entries.ts)
 * in order. An entry is read once all its units arrived; one that cannot be read or is of the
 * wrong shape (which our workers do not send), or a last one cut short by a worker that died
 * while writing it, is left out and reported to `onBad` with why. A frame longer than any entry
 * (the pipe is corrupted: nothing after it can be framed) ends the reading of this pipe.
 * Resolves when the pipe ends (the worker exited and all it wrote was read).
 */
export function receiveAudit(pipe: Readable, taker: EntryTaker, onBad: (count: number, why: string) => void): Promise<void> {
  const decoder = new EntryDecoder();
  /** Bytes received and not yet taken, from 0 (its own memory, so its units are aligned). */
  let held = new Uint8Array(64 * 1024);
  let length = 0;
  let broken = false;
  pipe.on('data', (chunk: Buffer) => {
    if (broken) return;
    if (length + chunk.length > held.length) {
      const grown = new Uint8Array(Math.max(held.length * 2, length + chunk.length));
      grown.set(held.subarray(0, length));
      held = grown;
    }
    held.set(chunk, length);
    length += chunk.length;
    const units = new Uint16Array(held.buffer, 0, length >> 1);
    let at = 0;
    let bad = 0;
    let why = '';
    while (at + 2 <= units.length) {
      const n = lengthAt(units, at);
      if (n > MAX_ENTRY_UNITS) {
        broken = true;
        onBad(1, `a frame of ${n} units, longer than any entry: the rest of this pipe is not read`);
        break;
      }
      if (at + 2 + n > units.length) break;
      try {
        takeEntry(decoder.decode(units, at + 2, at + 2 + n), taker);
      } catch (err) {
        bad++;
        why = (err as Error).message;
      }
      at += 2 + n;
    }
    if (bad > 0) onBad(bad, why);
    held.copyWithin(0, at * 2, length);
    length -= at * 2;
  });
  return new Promise((resolve) => {
    const ended = (): void => {
      if (length > 0 && !broken) onBad(1, 'the last entry was cut short');
      length = 0;
      resolve();
    };
    pipe.once('end', ended);
    // A reset pipe ends it too; 'close' follows either way, once.
    pipe.once('error', () => undefined);
    pipe.once('close', () => {
      if (!pipe.readableEnded) ended();
    });
  });
}
