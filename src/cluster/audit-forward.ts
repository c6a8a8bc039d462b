import { decisionEncoded, type DecisionRow } from '../audit/decision-row.js';
import type { AuditLog, AuditWriter } from '../audit/log.js';
import { AUDIT_TYPES, encodeEvent, type AuditEvent, type AuditType, type EncodedEvent, type TextRedactor } from '../audit/record.js';
import { isValidTenant } from '../state/store.js';
import { isMessage, type Channel, type ToPrimary, type ToWorker } from './channel.js';

/**
 * An `audit` message is one string: an item per line, its fields (tenant, type, time, actor
 * JSON, data JSON) separated by tabs. Canonical JSON holds no raw tab or newline (JSON
 * escapes control characters), tenants and types are names, so neither separator can occur
 * inside a field. One string crosses the IPC as a single copy, where a list of fields costs
 * the serialiser per field.
 */
const FIELDS = 5;

/**
 * A worker's audit log: events and decisions are encoded here (redacted, canonical JSON, in
 * parallel across the workers) and go to the primary, which owns the one hash chain per
 * tenant (no compare-and-append races between workers) and only hashes and stores them.
 * Items travel in batches (one string each, see FIELDS): at most `windowMs` after the
 * first of a batch, or at once when `maxBatch` wait.
 * The primary's AuditLog applies its bound and backpressure rules on arrival.
 */
export class ForwardingAudit implements AuditWriter {
  private lines = '';
  private count = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly channel: Channel<ToWorker, ToPrimary>,
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

  /** Sends what is waiting; resolves once the channel has taken it. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.count === 0) return Promise.resolve();
    const lines = this.lines;
    this.lines = '';
    this.count = 0;
    return new Promise((resolve) => this.channel.send({ t: 'audit', lines }, resolve));
  }

  private push(e: EncodedEvent): void {
    this.lines += `${e.tenant}\t${e.type}\t${e.time}\t${e.actorJson}\t${e.dataJson}\n`;
    if (++this.count >= this.maxBatch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.windowMs);
  }
}

/**
 * The primary's side: every item a worker forwards goes into `audit`, in order. An item of
 * the wrong shape (which our workers do not send) is left out and reported to `onBad`.
 */
export function receiveAudit(channel: Channel<ToPrimary, ToWorker>, audit: Pick<AuditLog, 'recordEncoded'>, onBad: (count: number) => void): () => void {
  return channel.onMessage((m) => {
    if (!isMessage(m) || m.t !== 'audit') return;
    if (typeof m.lines !== 'string') return onBad(1);
    let bad = 0;
    for (const line of m.lines.split('\n')) {
      if (line === '') continue;
      const f = line.split('\t');
      const [tenant, type, time, actorJson, dataJson] = f as [string, string, string, string, string];
      if (f.length === FIELDS && isValidTenant(tenant) && AUDIT_TYPES.has(type) && /^\d+$/.test(time) && actorJson.startsWith('{') && dataJson.startsWith('{')) {
        audit.recordEncoded({ tenant, type: type as AuditType, time: Number(time), actorJson, dataJson });
      } else bad++;
    }
    if (bad > 0) onBad(bad);
  });
}
