import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Counter, Registry } from 'prom-client';
import { decisionEncoded, type DecisionRow } from '../audit/decision-row.js';
import { overflowCounter, type AuditJournal, type AuditWriter } from '../audit/log.js';
import { AUDIT_TYPES, countLost, encodeEvent, gapEvent, type AuditEvent, type AuditType, type EncodedEvent, type Lost, type TextRedactor } from '../audit/record.js';
import { isValidTenant } from '../state/store.js';

/**
 * Audit items go from a worker to the primary on a pipe of their own, not over the IPC
 * channel: the primary forks each worker with an extra stdio pipe at this descriptor. Raw
 * UTF-8 text costs a copy per side, where an IPC message is serialised, framed and
 * deserialised (measured: ≈ 2–6 µs less CPU per decision at saturation with `--workers 2`).
 *
 * The text is an item per line, its fields (tenant, type, time, actor JSON, data JSON)
 * separated by tabs. Canonical JSON holds no raw tab or newline (JSON escapes control
 * characters), tenants and types are names, so neither separator can occur inside a field.
 */
export const AUDIT_FD = 4;
const FIELDS = 5;
const NEWLINE = 0x0a;

/** Where a worker writes its audit text: the pipe at AUDIT_FD (node:net's Socket), a stream in tests. */
export interface AuditOutput {
  /** Bytes written but not yet taken by the pipe. */
  readonly writableLength: number;
  write(bytes: Uint8Array, written: (err?: Error | null) => void): boolean;
}

export interface ForwardingOptions {
  readonly redact?: TextRedactor;
  /** How long the first item of a batch may wait (default 5 ms). */
  readonly windowMs?: number;
  /** Items sent at once when this many wait (default 1024). */
  readonly maxBatch?: number;
  /** Bytes let wait for the pipe (the primary not reading) before items are no longer held (default 64 MiB). */
  readonly maxUnsentBytes?: number;
  readonly log?: Logger;
  /** Where `joch_audit_overflow_total` counts the items not held (summed with the primary's own). */
  readonly registry?: Registry;
}

/** The worker's end of its audit pipe. A primary that went away loses what is unsent: it owns the chain. */
export function auditPipe(): AuditOutput {
  const socket = new Socket({ fd: AUDIT_FD, readable: false, writable: true });
  socket.on('error', () => {});
  return socket;
}

/**
 * A worker's audit log: events and decisions are encoded here (redacted, canonical JSON, in
 * parallel across the workers) and go to the primary, which owns the one hash chain per
 * tenant (no compare-and-append races between workers) and only hashes and stores them.
 * Items travel in batches: at most `windowMs` after the first of a batch, or at once when
 * `maxBatch` wait. The primary's AuditLog applies its bound and backpressure rules on arrival.
 *
 * Here, the bound is `maxUnsentBytes` waiting for the pipe: past it (a primary that stopped
 * reading) further items are not held but counted per tenant, an error is logged once per
 * episode, and once the pipe takes text again each tenant's chain gets an `audit.gap` record
 * (how many, from when to when) before anything newer, as the primary does for its own bound.
 */
export class ForwardingAudit implements AuditWriter {
  private bytes: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  /**
   * Batch buffers the pipe has finished with, reused: a fresh buffer per batch is new external
   * memory each time, which V8 answers with extra collections (measured with --trace-gc: most
   * of a worker's scavenges were "external memory pressure").
   */
  private readonly spare: Buffer[] = [];
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
  }

  record(e: AuditEvent): void {
    // Stamped here: the event happened now, not when the primary gets it.
    this.push(encodeEvent(e, Date.now(), this.redact));
  }

  recordDecision(row: DecisionRow): void {
    this.push(decisionEncoded(row));
  }

  /** Sends what is waiting; resolves once the pipe has taken it (or failed: the primary is gone). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.gaps.size > 0) {
      // Still not taking text: look again later, so the gap is recorded even if nothing newer comes.
      if (this.overBound()) this.timer = setTimeout(() => void this.flush(), this.windowMs);
      else this.append(this.gapLines());
    }
    if (this.used === 0) return Promise.resolve();
    const whole = this.bytes;
    const bytes = whole.subarray(0, this.used);
    // The pipe holds on to the bytes until written: the next batch gets another buffer.
    this.bytes = this.spare.pop() ?? Buffer.allocUnsafeSlow(whole.length);
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

  private push(e: EncodedEvent): void {
    if (this.overBound()) return this.lose(e.tenant);
    // The gap goes before anything newer.
    if (this.gaps.size > 0) this.append(this.gapLines());
    this.append(line(e));
    if (++this.count >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  /**
   * Adds text to the batch as UTF-8, as it comes: writing each item into the batch's bytes
   * measured ≈ 1.8 µs less CPU per decision than joining a batch string and having the
   * socket encode it.
   */
  private append(text: string): void {
    // A UTF-16 unit is at most 3 UTF-8 bytes.
    const need = this.used + text.length * 3;
    if (need > this.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.bytes.length * 2, need));
      this.spare.length = 0;
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
    }
    this.used += this.bytes.write(text, this.used, 'utf8');
  }

  private overBound(): boolean {
    return this.out.writableLength > this.maxUnsentBytes;
  }

  private lose(tenant: string): void {
    if (this.gaps.size === 0) this.log?.error({ maxUnsentBytes: this.maxUnsentBytes }, 'the primary is not taking audit records: further ones are counted and recorded as an audit.gap once it does');
    countLost(this.gaps, tenant, Date.now());
    this.lost?.inc();
    // The gap record goes out with the next batch, once the pipe takes text again.
    this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }

  /** One `audit.gap` item per tenant that lost items; ends the episode. */
  private gapLines(): string {
    const now = Date.now();
    let out = '';
    for (const [tenant, gap] of this.gaps) out += line(encodeEvent(gapEvent(tenant, gap, 'worker-buffer-full'), now, this.redact));
    this.gaps.clear();
    return out;
  }
}

function line(e: EncodedEvent): string {
  return `${e.tenant}\t${e.type}\t${e.time}\t${e.actorJson}\t${e.dataJson}\n`;
}

/**
 * The primary's side of one worker's audit pipe: every item goes into `audit`, in order. A
 * line is taken once its newline arrives (a newline byte never occurs inside a UTF-8
 * sequence, so a chunk splits cleanly there). An item of the wrong shape (which our workers do
 * not send), or a last line cut short by a worker that died while writing it, is left out
 * and reported to `onBad`. Resolves when the pipe ends (the worker exited and all it wrote
 * was read).
 */
export function receiveAudit(pipe: Readable, audit: Pick<AuditJournal, 'recordEncoded'>, onBad: (count: number) => void): Promise<void> {
  let rest: Buffer | undefined;
  pipe.on('data', (chunk: Buffer) => {
    const bytes = rest === undefined ? chunk : Buffer.concat([rest, chunk]);
    const end = bytes.lastIndexOf(NEWLINE);
    if (end < 0) {
      rest = bytes;
      return;
    }
    rest = end + 1 < bytes.length ? bytes.subarray(end + 1) : undefined;
    let bad = 0;
    for (const item of bytes.toString('utf8', 0, end).split('\n')) {
      if (item === '') continue;
      const f = item.split('\t');
      const [tenant, type, time, actorJson, dataJson] = f as [string, string, string, string, string];
      if (f.length === FIELDS && isValidTenant(tenant) && AUDIT_TYPES.has(type) && /^\d+$/.test(time) && actorJson.startsWith('{') && dataJson.startsWith('{')) {
        audit.recordEncoded({ tenant, type: type as AuditType, time: Number(time), actorJson, dataJson });
      } else bad++;
    }
    if (bad > 0) onBad(bad);
  });
  return new Promise((resolve) => {
    const ended = (): void => {
      if (rest !== undefined) onBad(1);
      rest = undefined;
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
