import { createHash } from 'node:crypto';
import { canonicalJson } from '../policy/canonical.js';

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
  | 'audit.gap';

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

export function hashRecord(r: Omit<AuditRecord, 'hash'>): string {
  return createHash('sha256')
    .update(canonicalJson({ seq: r.seq, time: r.time, tenant: r.tenant, type: r.type, actor: r.actor, data: r.data, prevHash: r.prevHash }))
    .digest('hex');
}

export function chainRecord(e: AuditEvent, seq: number, prevHash: string, now: number): AuditRecord {
  const body = { seq, time: new Date(e.time ?? now).toISOString(), tenant: e.tenant, type: e.type, actor: e.actor, data: e.data, prevHash };
  return { ...body, hash: hashRecord(body) };
}

export const SYSTEM_ACTOR: Actor = { type: 'system', id: 'joch-gateway' };
