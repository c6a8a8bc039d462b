import { decisionEncoded, type DecisionRow } from '../audit/decision-row.js';
import type { AuditLog, AuditWriter } from '../audit/log.js';
import { encodeEvent, type AuditEvent, type AuditType, type EncodedEvent, type TextRedactor } from '../audit/record.js';
import { isMessage, type Channel, type ToPrimary, type ToWorker } from './channel.js';

/** Fields per item of an `audit` message: tenant, type, time, actor JSON, data JSON. */
const FIELDS = 5;

/**
 * A worker's audit log: events and decisions are encoded here (redacted, canonical JSON, in
 * parallel across the workers) and go to the primary, which owns the one hash chain per
 * tenant (no compare-and-append races between workers) and only hashes and stores them.
 * Items travel as flat lists of strings and numbers, which the IPC copies cheaply, in
 * batches: at most `windowMs` after the first of a batch, or at once when `maxBatch` wait.
 * The primary's AuditLog applies its bound and backpressure rules on arrival.
 */
export class ForwardingAudit implements AuditWriter {
  private items: (string | number)[] = [];
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
    if (this.items.length === 0) return Promise.resolve();
    const items = this.items;
    this.items = [];
    return new Promise((resolve) => {
      try {
        this.channel.send({ t: 'audit', items }, resolve);
      } catch {
        resolve(); // the primary is gone: nobody is left to hold them
      }
    });
  }

  private push(e: EncodedEvent): void {
    this.items.push(e.tenant, e.type, e.time, e.actorJson, e.dataJson);
    if (this.items.length >= this.maxBatch * FIELDS) void this.flush();
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
    const items = m.items;
    if (!Array.isArray(items) || items.length % FIELDS !== 0) return onBad(1);
    let bad = 0;
    for (let i = 0; i < items.length; i += FIELDS) {
      const [tenant, type, time, actorJson, dataJson] = items.slice(i, i + FIELDS) as unknown[];
      if (typeof tenant === 'string' && typeof type === 'string' && typeof time === 'number' && typeof actorJson === 'string' && typeof dataJson === 'string') {
        audit.recordEncoded({ tenant, type: type as AuditType, time, actorJson, dataJson });
      } else bad++;
    }
    if (bad > 0) onBad(bad);
  });
}
