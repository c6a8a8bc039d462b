import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { decisionEncoded, type DecisionRow } from '../../src/audit/decision-row.js';
import { chainBatch, encodeEvent, type AuditEvent, type AuditRecord, type TextRedactor } from '../../src/audit/record.js';

/** A real pino logger whose lines a test can read. */
export function capturedLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** One item chained alone after `prevHash` (record `seq`): its stored text and that text parsed. */
export function chainOne(item: AuditEvent | DecisionRow, seq: number, prevHash: string, now = 0, redact?: TextRedactor): { text: string; record: AuditRecord } {
  const { records } = chainBatch([Array.isArray(item) ? decisionEncoded(item) : encodeEvent(item, now, redact)], seq, prevHash);
  const text = (records[0] as Buffer).toString('utf8');
  return { text, record: JSON.parse(text) as AuditRecord };
}
