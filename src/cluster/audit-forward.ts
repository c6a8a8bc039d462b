import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { decisionEncoded, type DecisionRow } from '../audit/decision-row.js';
import type { AuditLog, AuditWriter } from '../audit/log.js';
import { AUDIT_TYPES, encodeEvent, type AuditEvent, type AuditType, type EncodedEvent, type TextRedactor } from '../audit/record.js';
import { isValidTenant } from '../state/store.js';

/**
 * Audit items go from a worker to the primary on a pipe of their own, not over the IPC
 * channel: the primary forks each worker with an extra stdio pipe at this descriptor. Raw
 * UTF-8 text costs a copy per side, where an IPC message is serialised, framed and
 * deserialised (measured: ≈ 2 µs less CPU per decision at saturation with `--workers 2`).
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
  write(text: string, encoding: BufferEncoding, written: (err?: Error | null) => void): boolean;
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
 */
export class ForwardingAudit implements AuditWriter {
  private lines = '';
  private count = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: AuditOutput,
    private readonly redact?: TextRedactor,
    private readonly windowMs = 5,
    private readonly maxBatch = 1024,
  ) {}

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
    if (this.count === 0) return Promise.resolve();
    const lines = this.lines;
    this.lines = '';
    this.count = 0;
    return new Promise((resolve) => void this.out.write(lines, 'utf8', () => resolve()));
  }

  private push(e: EncodedEvent): void {
    this.lines += `${e.tenant}\t${e.type}\t${e.time}\t${e.actorJson}\t${e.dataJson}\n`;
    if (++this.count >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }
}

/**
 * The primary's side of one worker's audit pipe: every item goes into `audit`, in order. A
 * line is taken once its newline arrives (a newline byte never occurs inside a UTF-8
 * sequence, so a chunk splits cleanly there). An item of the wrong shape (which our workers do
 * not send), or a last line cut short by a worker that died while writing it, is left out
 * and reported to `onBad`. Resolves when the pipe ends (the worker exited and all it wrote
 * was read).
 */
export function receiveAudit(pipe: Readable, audit: Pick<AuditLog, 'recordEncoded'>, onBad: (count: number) => void): Promise<void> {
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
    for (const line of bytes.toString('utf8', 0, end).split('\n')) {
      if (line === '') continue;
      const f = line.split('\t');
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
