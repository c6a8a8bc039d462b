import { JochError } from '../errors.js';
import { SecretCodes } from './resource.js';

export interface CacheTiming {
  readonly ttlMs: number;
  readonly maxStaleMs: number;
}

export interface CacheClock {
  now(): number;
  /** Schedules `fn` (unref'd: a pending refresh never keeps the process alive). */
  schedule(fn: () => void, ms: number): { cancel(): void };
}

export const systemClock: CacheClock = {
  now: () => Date.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** What the admin API shows about a cached secret: timing and health, never the value. */
export interface CacheStatus {
  readonly cached: boolean;
  readonly fetchedAt?: string;
  readonly expiresAt?: string;
  /** Past expiry, served only because the provider is failing (within maxStale). */
  readonly stale: boolean;
  readonly lastError?: string;
  readonly failures: number;
}

interface Entry {
  value: string | undefined;
  fetchedAt: number;
  inflight: Promise<string> | undefined;
  timer: { cancel(): void } | undefined;
  failures: number;
  lastError: string | undefined;
  lastAttempt: number;
  /** Bumped by invalidate: an answer to an older fetch must not land after a rotation. */
  generation: number;
}

/** Refresh when this share of the TTL has passed. */
const REFRESH_AT = 0.8;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

/**
 * Secret values by name, with a TTL. Reading a warm value is synchronous (`peek`: one map
 * lookup and two comparisons, no allocation). Values are refreshed in the background before
 * they expire; every fetch of a name is single-flight, so a thousand concurrent cold reads
 * make one provider call. When the provider fails, the last good value is served until
 * `ttl + maxStale` after it was fetched, then the secret is unavailable (fail closed) until
 * a fetch succeeds; failed refreshes are retried with backoff.
 */
export class SecretCache {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly fetcher: (name: string) => Promise<string>,
    private readonly timing: (name: string) => CacheTiming,
    private readonly onValue: (name: string, value: string, previous: string | undefined) => void = () => undefined,
    private readonly clock: CacheClock = systemClock,
  ) {}

  /** The value if usable now (fresh, or stale within maxStale); undefined otherwise. Never waits. */
  peek(name: string): string | undefined {
    const e = this.entries.get(name);
    if (e === undefined || e.value === undefined) return undefined;
    const t = this.timing(name);
    const age = this.clock.now() - e.fetchedAt;
    if (age < t.ttlMs) return e.value;
    // Expired: the background refresh is failing (or was never scheduled). Keep trying.
    this.kick(name, e);
    return age < t.ttlMs + t.maxStaleMs ? e.value : undefined;
  }

  /** The value, fetching it (once, however many callers wait) when there is no usable one. */
  get(name: string): Promise<string> {
    const v = this.peek(name);
    if (v !== undefined) return Promise.resolve(v);
    return this.refresh(name);
  }

  /** Fetches now (joining a fetch in flight). Rejects with JOCH_SECRET_UNAVAILABLE. */
  refresh(name: string): Promise<string> {
    const e = this.entry(name);
    if (e.inflight) return e.inflight;
    const generation = e.generation;
    e.lastAttempt = this.clock.now();
    const p = this.fetcher(name).then(
      (value) => {
        if (e.generation === generation) {
          const previous = e.value;
          e.value = value;
          e.fetchedAt = this.clock.now();
          e.failures = 0;
          e.lastError = undefined;
          this.onValue(name, value, previous);
          this.plan(name, e, Math.max(0, this.timing(name).ttlMs * REFRESH_AT));
        }
        return value;
      },
      (err: unknown) => {
        e.failures++;
        e.lastError = err instanceof Error ? err.message : String(err);
        if (e.value !== undefined) this.plan(name, e, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (e.failures - 1)));
        throw err instanceof JochError ? err : new JochError(SecretCodes.unavailable, `secret "${name}": ${e.lastError}`);
      },
    );
    e.inflight = p;
    const clear = (): void => {
      if (e.inflight === p) e.inflight = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** Drops the value (rotation): the next read fetches anew; a fetch in flight is disregarded. */
  invalidate(name: string): string | undefined {
    const e = this.entries.get(name);
    if (e === undefined) return undefined;
    const previous = e.value;
    e.generation++;
    e.value = undefined;
    e.inflight = undefined;
    e.timer?.cancel();
    e.timer = undefined;
    return previous;
  }

  status(name: string): CacheStatus {
    const e = this.entries.get(name);
    if (e === undefined || e.value === undefined) return { cached: false, stale: false, failures: e?.failures ?? 0, ...(e?.lastError ? { lastError: e.lastError } : {}) };
    const ttl = this.timing(name).ttlMs;
    return {
      cached: true,
      fetchedAt: new Date(e.fetchedAt).toISOString(),
      expiresAt: new Date(e.fetchedAt + ttl).toISOString(),
      stale: this.clock.now() - e.fetchedAt >= ttl,
      failures: e.failures,
      ...(e.lastError ? { lastError: e.lastError } : {}),
    };
  }

  /** Stops every background refresh. */
  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) e.timer?.cancel();
  }

  private entry(name: string): Entry {
    let e = this.entries.get(name);
    if (e === undefined) {
      e = { value: undefined, fetchedAt: 0, inflight: undefined, timer: undefined, failures: 0, lastError: undefined, lastAttempt: -Infinity, generation: 0 };
      this.entries.set(name, e);
    }
    return e;
  }

  private plan(name: string, e: Entry, ms: number): void {
    if (this.closed) return;
    e.timer?.cancel();
    e.timer = this.clock.schedule(() => {
      e.timer = undefined;
      this.refresh(name).catch(() => undefined); // failures are recorded on the entry and retried
    }, ms);
  }

  /** A refresh from the read path, at most once per RETRY_MIN_MS while one is not in flight. */
  private kick(name: string, e: Entry): void {
    if (e.inflight || e.timer || this.clock.now() - e.lastAttempt < RETRY_MIN_MS) return;
    this.refresh(name).catch(() => undefined);
  }
}
