import { hash as digest } from 'node:crypto';
import { canonicalEncode } from './canonical.js';

/** What produced a record. */
export type AuditType =
  | 'decision'
  | 'admin.request'
  | 'admin.denied'
  | 'policy.apply'
  | 'policy.promote'
  | 'policy.rollback'
  | 'approval'
  | 'override'
  | 'audit.gap'
  | 'secret.rotated';

/** Who acted: an operator (OIDC subject or the static admin), an agent, or the gateway itself. */
export interface Actor {
  readonly type: 'operator' | 'agent' | 'system';
  readonly id: string;
  readonly issuer?: string;
  readonly roles?: readonly string[];
}

/** An event before it joins the chain. `time` is epoch milliseconds. */
export interface AuditEvent {
  readonly tenant: string;
  readonly type: AuditType;
  readonly actor: Actor;
  readonly data: Readonly<Record<string, unknown>>;
  readonly time?: number;
  /**
   * Set by producers that build every object of the event with its keys inserted in sorted
   * order (decision records): JSON.stringify then already gives the canonical encoding, and
   * the writer skips the sorting encoder.
   */
  readonly presorted?: true;
}

/**
 * A record in a tenant's chain. `hash` is the SHA-256 (hex) of the canonical JSON (keys sorted
 * at every level, no insignificant whitespace) of every other field; `prevHash` is the hash of
 * the record before it (64 zeros for the first).
 */
export interface AuditRecord {
  readonly seq: number;
  readonly time: string;
  readonly tenant: string;
  readonly type: AuditType;
  readonly actor: Actor;
  readonly data: Readonly<Record<string, unknown>>;
  readonly prevHash: string;
  readonly hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);

/** The log (per tenant) audit records live in. */
export const AUDIT_LOG = 'audit';

/** The record body (every field but `hash`) in canonical key order. */
function body(r: Omit<AuditRecord, 'hash'>): Omit<AuditRecord, 'hash'> {
  return { actor: r.actor, data: r.data, prevHash: r.prevHash, seq: r.seq, tenant: r.tenant, time: r.time, type: r.type };
}

export function hashRecord(r: Omit<AuditRecord, 'hash'>): string {
  return digest('sha256', canonicalEncode(body(r)), 'hex');
}

/**
 * Chains an event: the record, and its stored text (the canonical encoding of the whole
 * record, hash included), made with one serialisation.
 */
export function chainRecord(e: AuditEvent, seq: number, prevHash: string, now: number, redact?: TextRedactor): { record: AuditRecord; text: string } {
  let b = body({ seq, time: new Date(e.time ?? now).toISOString(), tenant: e.tenant, type: e.type, actor: e.actor, data: e.data, prevHash });
  const encode = (x: typeof b): string => (e.presorted ? JSON.stringify(x) : canonicalEncode(x));
  let bodyText = encode(b);
  // The same redactor as the logs: resolved secret values, secret-shaped strings, operator
  // patterns. Checked on the whole text (one pass); when it finds something, each string is
  // redacted on its own, so the record stays valid JSON whatever the spans cover. Decision
  // records (presorted) had their agent-supplied strings redacted when they were built.
  if (redact !== undefined && !e.presorted && redact(bodyText) !== bodyText) {
    b = { ...b, actor: redactStrings(b.actor, redact), data: redactStrings(b.data, redact) };
    bodyText = encode(b);
  }
  const hash = digest('sha256', bodyText, 'hex');
  // "hash" sorts just before "prevHash", the first key after "data"; the last occurrence is the top-level one.
  const at = bodyText.lastIndexOf('"prevHash":');
  return { record: { ...b, hash }, text: `${bodyText.slice(0, at)}"hash":"${hash}",${bodyText.slice(at)}` };
}

/** Rewrites text so that it holds no secret (src/log.ts createRedactor). */
export type TextRedactor = (text: string) => string;

/** A copy of `value` with every string run through `redact`; key order and shape kept. */
function redactStrings<T>(value: T, redact: TextRedactor): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactStrings(v, redact)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactStrings(v, redact);
    return out as T;
  }
  return value;
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: 'joch-gateway' };
