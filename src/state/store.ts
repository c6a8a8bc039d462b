import { JochError } from '../errors.js';

/** One entry of an append-only log: its 1-based sequence number and the stored text. */
export interface LogEntry {
  readonly seq: number;
  readonly value: string;
}

/** A log entry to append: text, or text already encoded as UTF-8. */
export type LogValue = string | Uint8Array;

/** Result of a compare-and-append: `ok` when the log held exactly `expected` entries. */
export type AppendResult = { readonly ok: true; readonly length: number } | { readonly ok: false; readonly length: number };

/**
 * Everything stateful sits behind this interface (memory: one process; Redis: many replicas).
 * Every operation takes the tenant first and every key contains it: there is no call that
 * reads, lists or subscribes across tenants. Names are validated, so no tenant, collection
 * or log name can be crafted to reach into another tenant's keys.
 */
export interface Store {
  readonly kind: 'memory' | 'redis';
  /** Whether shared state can be read and written right now (Redis connected). */
  available(): boolean;
  /** Called with true when the store comes (back) up, false when it goes down. */
  onAvailability(listener: (up: boolean) => void): void;

  get(tenant: string, collection: string, id: string): Promise<string | undefined>;
  put(tenant: string, collection: string, id: string, value: string): Promise<void>;
  remove(tenant: string, collection: string, id: string): Promise<boolean>;
  /** The ids in a collection, sorted. */
  list(tenant: string, collection: string): Promise<string[]>;

  /**
   * Appends `values` when the log holds exactly `expected` entries (the first gets sequence
   * expected + 1); otherwise appends nothing and reports the current length. Logs are
   * append-only: nothing in this interface rewrites or trims them. Bytes are taken before the
   * call returns by a `memory` store, and until the promise settles by a `redis` one.
   */
  append(tenant: string, log: string, expected: number, values: readonly LogValue[]): Promise<AppendResult>;
  /** Up to `count` entries from sequence `from` (1-based) on. */
  read(tenant: string, log: string, from: number, count: number): Promise<LogEntry[]>;
  length(tenant: string, log: string): Promise<number>;

  /**
   * Expiring entries (one-shot grants and the like): `value` under `id` in `collection` for
   * `ttlMs`, then gone by itself. A later set replaces the value and the expiry.
   */
  setExpiring(tenant: string, collection: string, id: string, value: string, ttlMs: number): Promise<void>;
  /** The value, unless it expired or was taken. */
  getExpiring(tenant: string, collection: string, id: string): Promise<string | undefined>;
  /** Reads and removes in one atomic step: of several concurrent callers at most one gets the value. */
  takeExpiring(tenant: string, collection: string, id: string): Promise<string | undefined>;
  /** Up to `limit` live entries of a collection, those that expire first first. */
  listExpiring(tenant: string, collection: string, limit: number): Promise<{ id: string; value: string }[]>;

  publish(tenant: string, topic: string, message: string): Promise<void>;
  /** Resolves once subscribed; the returned function unsubscribes. */
  subscribe(tenant: string, topic: string, handler: (message: string) => void): Promise<() => Promise<void>>;

  close(): Promise<void>;
}

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$/;

/** Tenants are names: letters, digits, `.`, `_`, `-` (no separators or hash-tag braces). */
export function checkTenant(tenant: string): string {
  if (typeof tenant !== 'string' || !TENANT.test(tenant)) {
    throw new JochError('JOCH_TENANT_INVALID', `tenant ${JSON.stringify(tenant)} is not a valid name`, {}, 'use 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit');
  }
  return tenant;
}

export function isValidTenant(tenant: unknown): tenant is string {
  return typeof tenant === 'string' && TENANT.test(tenant);
}

/** Collection, log and topic names: letters, digits, `.`, `_`, `-`, `/`. */
export function checkName(kind: string, name: string): string {
  if (typeof name !== 'string' || !NAME.test(name) || name.includes('//')) {
    throw new JochError('JOCH_STORE_NAME', `${kind} name ${JSON.stringify(name)} is not valid`, {}, 'use letters, digits, ".", "_", "-" and "/"');
  }
  return name;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** Ids of expiring entries: letters, digits, `.`, `_`, `-` (up to 200). */
export function checkId(id: string): string {
  if (typeof id !== 'string' || !ID.test(id)) throw new JochError('JOCH_STORE_NAME', `id ${JSON.stringify(id)} is not valid`, {}, 'use letters, digits, ".", "_" and "-"');
  return id;
}

/** Expiry of an expiring entry: a whole number of milliseconds, 1 ms to 30 days. */
export function checkTtl(ttlMs: number): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > 30 * 86_400_000) throw new JochError('JOCH_STORE_RANGE', `an expiry of ${ttlMs} ms is out of range (1 ms to 30 days)`);
  return ttlMs;
}

/** How many entries a listing may ask for: 1 to 10,000. */
export function checkLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new JochError('JOCH_STORE_RANGE', `a limit of ${limit} is out of range (1 to 10000)`);
  return limit;
}

export function checkCount(from: number, count: number): void {
  if (!Number.isSafeInteger(from) || from < 1 || !Number.isSafeInteger(count) || count < 0) {
    throw new JochError('JOCH_STORE_RANGE', `cannot read from ${from} (count ${count}): sequences start at 1`);
  }
}

/** Thrown when shared state is needed and the store cannot be reached: callers fail closed. */
export function storeUnavailable(cause: unknown): JochError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new JochError('JOCH_STORE_UNAVAILABLE', `the state store is unavailable (${why})`, {}, 'the gateway keeps deciding from the policies it holds and reconnects by itself');
}
