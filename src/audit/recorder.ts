import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import type { AuditWriter } from './log.js';
import { decisionRow } from './decision-row.js';
import type { TextRedactor } from './record.js';

/**
 * The hot path's one call into audit. Implementations must not block: no awaits, no hashing,
 * no I/O on the caller's stack.
 */
export interface DecisionRecorder {
  recordDecision(decision: Decision, ctx: DecisionContext | undefined, edge: string): void;
}

/** Audit off. */
export const NO_DECISION_RECORDING: DecisionRecorder = { recordDecision: () => undefined };

/**
 * Records every decision (allow included) as a `decision` audit record, the HookDecision event,
 * into an audit writer in this thread (`audit.worker: false`; the default and `--workers`
 * workers use RawDecisionRecorder).
 * `recordDecision` appends four references to an array and, once per event-loop turn,
 * schedules a move into the audit log: each becomes a finished row, then canonical JSON
 * (src/audit/decision-row.ts); hashing and writing happen there, in batches.
 */
export class AuditDecisionRecorder implements DecisionRecorder {
  private buffer: unknown[] = [];
  private scheduled = false;

  constructor(
    private readonly audit: AuditWriter,
    /** Tenant of decisions whose context names none (or an invalid one). */
    private readonly defaultTenant = 'default',
    private readonly redact?: TextRedactor,
  ) {}

  recordDecision(decision: Decision, ctx: DecisionContext | undefined, edge: string): void {
    this.buffer.push(decision, ctx, edge, Date.now());
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.move);
    }
  }

  private readonly move = (): void => {
    const b = this.buffer;
    this.buffer = [];
    this.scheduled = false;
    for (let i = 0; i < b.length; i += 4) {
      this.audit.recordDecision(decisionRow(b[i] as Decision, b[i + 1] as DecisionContext | undefined, b[i + 2] as string, b[i + 3] as number, this.defaultTenant, this.redact));
    }
  };
}

/** Where a decision's raw row is written at once, to be finished elsewhere: the audit thread's ring, a `--workers` worker's audit pipe. */
export interface RawDecisionWriter {
  recordDecisionOf(decision: Decision, ctx: DecisionContext | undefined, edge: string, defaultTenant: string): void;
}

/** Records decisions through a RawDecisionWriter: the row is written on the caller's stack (references and slices, ≈ 1 µs). */
export class RawDecisionRecorder implements DecisionRecorder {
  constructor(
    private readonly writer: RawDecisionWriter,
    /** Tenant of decisions whose context names none (or an invalid one). */
    private readonly defaultTenant = 'default',
  ) {}

  recordDecision(decision: Decision, ctx: DecisionContext | undefined, edge: string): void {
    this.writer.recordDecisionOf(decision, ctx, edge, this.defaultTenant);
  }
}
