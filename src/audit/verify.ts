import type { LogEntry } from '../state/store.js';
import { GENESIS_HASH, hashRecord, type AuditRecord } from './record.js';

export interface VerifiedCheckpoint {
  readonly seq: number;
  readonly hash: string;
}

export type VerifyResult =
  | { readonly ok: true; readonly records: number; readonly firstSeq: number; readonly headHash: string; readonly checkpoints: number }
  | {
      readonly ok: false;
      readonly records: number;
      /** The first record that was changed, removed or reordered. */
      readonly seq: number;
      readonly problem: 'changed' | 'removed' | 'reordered' | 'unreadable' | 'truncated';
      readonly message: string;
    };

/**
 * Recomputes a tenant's chain from its stored entries (in stored order) and names the first
 * record that was changed, removed or reordered. `firstSeq` is the first record the store still
 * holds (1 unless it keeps only the newest). Signed checkpoints (already verified) catch
 * what the chain alone cannot: records cut from the end, or a rewritten chain.
 */
export function verifyChain(entries: readonly LogEntry[], checkpoints: readonly VerifiedCheckpoint[] = [], firstSeq = 1): VerifyResult {
  const records: (AuditRecord | undefined)[] = entries.map((e) => parse(e.value));
  const bySeq = new Map<number, number>();
  records.forEach((r, i) => r && !bySeq.has(r.seq) && bySeq.set(r.seq, i));
  // A store that holds only the newest records (memory mode) starts later (`firstSeq`): its first link is taken as given.
  const first = firstSeq;
  const offset = first - 1;
  let prevHash = first === 1 ? GENESIS_HASH : (records[0]?.seq === first ? records[0].prevHash : GENESIS_HASH);
  for (let i = 0; i < records.length; i++) {
    const expected = i + 1 + offset;
    const r = records[i];
    const fail = (seq: number, problem: 'changed' | 'removed' | 'reordered' | 'unreadable', message: string): VerifyResult => ({ ok: false, records: records.length, seq, problem, message });
    if (r === undefined) return fail(expected, 'unreadable', `record ${expected} is not a valid audit record`);
    if (r.seq !== expected) {
      const at = bySeq.get(expected);
      if (at !== undefined && at > i) return fail(expected, 'reordered', `record ${expected} is stored at position ${at + 1 + offset}, after record ${r.seq}`);
      if (r.seq > expected) return fail(expected, 'removed', `record ${expected}${r.seq - expected > 1 ? `-${r.seq - 1}` : ''} removed: record ${r.seq} follows record ${expected - 1}`);
      return fail(r.seq, 'reordered', `record ${r.seq} is stored at position ${expected}`);
    }
    const { hash, ...body } = r;
    if (hashRecord(body) !== hash) return fail(expected, 'changed', `record ${expected} was changed: its content no longer matches its hash`);
    if (r.prevHash !== prevHash) {
      return fail(expected - 1, 'changed', `record ${expected - 1} was changed: record ${expected}'s prevHash does not match it`);
    }
    prevHash = hash;
  }
  for (const cp of checkpoints) {
    if (cp.seq <= offset) continue; // no longer held here
    const r = records[cp.seq - 1 - offset];
    if (r === undefined) return { ok: false, records: records.length, seq: records.length + offset + 1, problem: 'truncated', message: `a signed checkpoint covers record ${cp.seq}, but the log ends at record ${records.length + offset}: records were removed from the end` };
    if (r.hash !== cp.hash) return { ok: false, records: records.length, seq: cp.seq, problem: 'changed', message: `record ${cp.seq} does not match the signed checkpoint: the chain up to it was rewritten` };
  }
  return { ok: true, records: records.length, firstSeq: first, headHash: prevHash, checkpoints: checkpoints.length };
}

function parse(text: string): AuditRecord | undefined {
  try {
    const v = JSON.parse(text) as AuditRecord;
    if (v === null || typeof v !== 'object' || typeof v.seq !== 'number' || typeof v.hash !== 'string' || typeof v.prevHash !== 'string') return undefined;
    return v;
  } catch {
    return undefined;
  }
}
