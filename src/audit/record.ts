import { hash as digest } from 'node:crypto';
import { canonicalEncode } from './canonical.js';

const AUDIT_TYPE_LIST = ['decision', 'admin.request', 'admin.denied', 'policy.apply', 'policy.promote', 'policy.rollback', 'approval', 'override', 'audit.gap', 'secret.rotated'] as const;
/** What produced a record. */
export type AuditType = (typeof AUDIT_TYPE_LIST)[number];
export const AUDIT_TYPES: ReadonlySet<string> = new Set(AUDIT_TYPE_LIST);

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

/** The record body (every field but `hash`) in canonical key order. */
function body(r: Omit<AuditRecord, 'hash'>): Omit<AuditRecord, 'hash'> {
  return { actor: r.actor, data: r.data, prevHash: r.prevHash, seq: r.seq, tenant: r.tenant, time: r.time, type: r.type };
}

export function hashRecord(r: Omit<AuditRecord, 'hash'>): string {
  return digest('sha256', canonicalEncode(body(r)), 'hex');
}

/** An event with its actor and data already in canonical JSON (and redacted): ready to chain. */
export interface EncodedEvent {
  readonly tenant: string;
  readonly type: AuditType;
  readonly time: number;
  readonly actorJson: string;
  readonly dataJson: string;
}

/**
 * Encodes an event for chaining. With a redactor (the logs' own: resolved secret values,
 * secret-shaped strings, operator patterns) the text is checked in one pass; only when that
 * finds something is each string redacted on its own, so the record stays valid JSON whatever
 * the spans cover.
 */
export function encodeEvent(e: AuditEvent, now: number, redact?: TextRedactor): EncodedEvent {
  let actorJson = canonicalEncode(e.actor);
  let dataJson = canonicalEncode(e.data);
  if (redact !== undefined && (redact(actorJson) !== actorJson || redact(dataJson) !== dataJson)) {
    actorJson = canonicalEncode(redactStrings(e.actor, redact));
    dataJson = canonicalEncode(redactStrings(e.data, redact));
  }
  return { tenant: e.tenant, type: e.type, time: e.time ?? now, actorJson, dataJson };
}

/** A batch joined to a chain: the stored texts in order (UTF-8), and the hash of the last one. */
export interface ChainResult {
  /** Views of one buffer holding the batch's stored texts back to back. */
  readonly records: Buffer[];
  readonly hash: string;
}

/** A buffer batches are written into, reused by its owner (grown here when short). */
export interface ChainBuffer {
  bytes: Buffer;
}

/** `"hash":"<64 hex digits>",` */
const HASH_MEMBER_BYTES = 74;
/** Most bytes of a record besides its actor and data JSON (the other members, the tenant aside). */
const RECORD_FRAME_BYTES = 320;
/** Where batches are written when the caller has no buffer of its own; copied out after. */
const scratch: ChainBuffer = { bytes: Buffer.allocUnsafeSlow(256 * 1024) };
/** The text before the data of the last actor seen, and the last tenant's JSON: consecutive records mostly share both. */
let lastActorJson: string | undefined;
let lastHead = '';
let lastTenant: string | undefined;
let lastTenantJson = '';

/**
 * Chains items after the record `seq - 1` whose hash is `prevHash`. Each stored text is the
 * canonical encoding of the whole record (hash included), written directly as UTF-8: the
 * top-level keys in canonical order are actor, data, hash, prevHash, seq, tenant, time, type,
 * and the hash is taken over the same bytes without the "hash" member. Each record is written
 * once, hashed where it lies, and its tail moved to make room for the hash; no string is built
 * per record but the tail's.
 *
 * With `into`, the records are views of `into.bytes`, valid until it is next written: an owner
 * that chains batch after batch (the AuditLog with a memory store, which copies on append)
 * then allocates nothing per batch, where fresh buffers made V8 collect for "external memory"
 * every few hundred milliseconds. Without, they are views of a buffer of their own.
 */
export function chainBatch(items: readonly EncodedEvent[], seq: number, prevHash: string, into?: ChainBuffer): ChainResult {
  const out = into ?? scratch;
  const ends = new Array<number>(items.length);
  let prev = prevHash;
  let n = 0;
  for (let i = 0; i < items.length; i++) {
    const e = items[i] as EncodedEvent;
    const room = 3 * (e.actorJson.length + e.dataJson.length + e.tenant.length) + RECORD_FRAME_BYTES;
    if (n + room > out.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(out.bytes.length * 2, n + room));
      out.bytes.copy(grown, 0, 0, n);
      out.bytes = grown;
    }
    const b = out.bytes;
    const start = n;
    if (e.actorJson !== lastActorJson) {
      lastActorJson = e.actorJson;
      lastHead = `{"actor":${e.actorJson},"data":`;
    }
    n += b.write(lastHead, n, 'utf8');
    n += b.write(e.dataJson, n, 'utf8');
    const headEnd = n + 1; // after the comma that starts the tail
    if (e.tenant !== lastTenant) {
      lastTenant = e.tenant;
      lastTenantJson = JSON.stringify(e.tenant);
    }
    n += b.write(`,"prevHash":"${prev}","seq":${seq + i},"tenant":${lastTenantJson},"time":"${isoTime(e.time)}","type":"${e.type}"}`, n, 'utf8');
    const hash = digest('sha256', b.subarray(start, n), 'hex');
    b.copyWithin(headEnd + HASH_MEMBER_BYTES, headEnd, n);
    b.write(`"hash":"${hash}",`, headEnd, 'latin1');
    n += HASH_MEMBER_BYTES;
    ends[i] = n;
    prev = hash;
  }
  let batch = out.bytes;
  if (into === undefined) {
    batch = Buffer.allocUnsafe(n);
    scratch.bytes.copy(batch, 0, 0, n);
  }
  const records = new Array<Buffer>(items.length);
  for (let i = 0, from = 0; i < items.length; from = ends[i] as number, i++) records[i] = batch.subarray(from, ends[i]);
  return { records, hash: prev };
}

let lastMs = NaN;
let lastIso = '';
/** toISOString, remembered for the last millisecond asked: a batch's records mostly share one. */
function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
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

/** One tenant's events that a full buffer did not hold: how many, from the first to the last (ms). */
export interface Lost {
  lost: number;
  from: number;
  to: number;
}

/** Counts one event not held for `tenant`. */
export function countLost(gaps: Map<string, Lost>, tenant: string, now: number): void {
  const gap = gaps.get(tenant);
  if (gap === undefined) gaps.set(tenant, { lost: 1, from: now, to: now });
  else {
    gap.lost++;
    gap.to = now;
  }
}

/** The `audit.gap` event that puts a tenant's lost events on its chain, before anything newer. */
export function gapEvent(tenant: string, gap: Lost, reason: 'buffer-full' | 'worker-buffer-full'): AuditEvent {
  return { tenant, type: 'audit.gap', actor: SYSTEM_ACTOR, data: { from: new Date(gap.from).toISOString(), lost: gap.lost, reason, to: new Date(gap.to).toISOString() } };
}
