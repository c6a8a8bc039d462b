import type { KnownSecrets } from '../secrets/known.js';
import { isValidTenant } from '../state/store.js';
import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import { emitDecisionRow, finishRow, ROW_LENGTH, type DecisionRow } from './decision-row.js';
import { EntryValueError, type EntryEncoder, type EntryValue } from './entry-codec.js';
import type { AuditJournal, AuditWriter } from './log.js';
import { AUDIT_TYPES, type AuditType, type EncodedEvent, type TextRedactor } from './record.js';

/**
 * Audit entries as they travel encoded (src/audit/entry-codec.ts), `[kind, payload]`: from the
 * serving thread to the audit thread (the ring), and from a `--workers` worker to the primary
 * (its audit pipe). Both ends take them with `takeEntry`.
 */
export const ENTRY = { rawDecision: 0, event: 1, secret: 2 } as const;

/** An encoded (and redacted) event as an entry. */
export function eventEntry(e: EncodedEvent): EntryValue {
  return [ENTRY.event, [e.tenant, e.type, e.time, e.actorJson, e.dataJson]];
}

/**
 * Begins an entry in `enc` and writes a decision's raw row into it (emitDecisionRow: references
 * and slices, on the caller's stack); returns its tenant. The caller commits the entry.
 */
export function encodeDecisionEntry(enc: EntryEncoder, decision: Decision, ctx: DecisionContext | undefined, edge: string, defaultTenant: string): string {
  enc.begin();
  enc.list(2);
  enc.primitive(ENTRY.rawDecision);
  return emitDecisionRow(enc, decision, ctx, edge, Date.now(), defaultTenant);
}

/** A secret value the sender learned: the taker's redactor must know it before any later entry. */
export function secretEntry(value: string): EntryValue {
  return [ENTRY.secret, value];
}

/** Where taken entries go. */
export interface EntryTaker {
  readonly audit: Pick<AuditWriter, 'recordDecision'> & Pick<AuditJournal, 'recordEncoded'>;
  /** Redacts decision rows (their agent-supplied strings). */
  readonly redact: TextRedactor;
  /** Learns the secret entries' values (the redactor's known secrets). */
  readonly known: KnownSecrets;
}

/**
 * Records one entry: a raw decision row finished (redacted) here, an event as it was encoded,
 * a secret value into `known`. Throws EntryValueError for an entry of the wrong shape (none of
 * it is recorded).
 */
export function takeEntry(entry: EntryValue, to: EntryTaker): void {
  if (!Array.isArray(entry) || entry.length !== 2) throw new EntryValueError('an audit entry is not a [kind, payload] pair');
  const [kind, payload] = entry as [unknown, EntryValue];
  switch (kind) {
    case ENTRY.rawDecision: {
      const row = payload as DecisionRow;
      if (!Array.isArray(row) || row.length !== ROW_LENGTH || typeof row[0] !== 'number' || !isValidTenant(row[1]) || typeof row[2] !== 'string') {
        throw new EntryValueError('a decision entry is not a decision row');
      }
      to.audit.recordDecision(finishRow(row, to.redact));
      return;
    }
    case ENTRY.event: {
      const [tenant, type, time, actorJson, dataJson] = (Array.isArray(payload) ? payload : []) as unknown[];
      if (!isValidTenant(tenant) || typeof type !== 'string' || !AUDIT_TYPES.has(type) || typeof time !== 'number' || !Number.isFinite(time)) {
        throw new EntryValueError('an event entry has no valid tenant, type or time');
      }
      if (typeof actorJson !== 'string' || !actorJson.startsWith('{') || typeof dataJson !== 'string' || !dataJson.startsWith('{')) {
        throw new EntryValueError('an event entry has no actor or data object');
      }
      to.audit.recordEncoded({ tenant, type: type as AuditType, time, actorJson, dataJson });
      return;
    }
    case ENTRY.secret:
      if (typeof payload !== 'string') throw new EntryValueError('a secret entry holds no string');
      to.known.add(payload);
      return;
  }
  throw new EntryValueError(`unknown audit entry kind ${String(kind)}`);
}
