import { describe, expect, it } from 'vitest';
import { SecretCache, type CacheClock } from '../../src/secrets/cache.js';

/** A clock the test moves by hand; scheduled refreshes run when their time comes. */
function manualClock() {
  let now = 1_000_000;
  let tasks: { at: number; fn: () => void; cancelled: boolean }[] = [];
  const clock: CacheClock & { advance(ms: number): Promise<void>; pending(): number } = {
    now: () => now,
    schedule: (fn, ms) => {
      const t = { at: now + ms, fn, cancelled: false };
      tasks.push(t);
      return { cancel: () => (t.cancelled = true) };
    },
    advance: async (ms) => {
      now += ms;
      const due = tasks.filter((t) => !t.cancelled && t.at <= now);
      tasks = tasks.filter((t) => !due.includes(t));
      for (const t of due) t.fn();
      for (let i = 0; i < 10; i++) await Promise.resolve(); // let the fetches settle
    },
    pending: () => tasks.filter((t) => !t.cancelled).length,
  };
  return clock;
}

/** A provider whose answers the test controls; it counts calls. */
function fakeProvider() {
  const p = {
    calls: 0,
    value: 'v1',
    failing: false,
    gate: undefined as Promise<void> | undefined,
    fetch: async (): Promise<string> => {
      p.calls++;
      if (p.gate) await p.gate;
      if (p.failing) throw new Error('provider down');
      return p.value;
    },
  };
  return p;
}

const timing = () => ({ ttlMs: 10_000, maxStaleMs: 5_000 });

describe('secret cache', () => {
  it('fetches once for many concurrent cold reads (single-flight)', async () => {
    const p = fakeProvider();
    let open: () => void = () => undefined;
    p.gate = new Promise((r) => (open = r));
    const cache = new SecretCache(p.fetch, timing, undefined, manualClock());
    const reads = Array.from({ length: 1000 }, () => cache.get('k'));
    open();
    expect(new Set(await Promise.all(reads))).toEqual(new Set(['v1']));
    expect(p.calls).toBe(1);
  });

  it('serves a warm value synchronously and refreshes it in the background before it expires', async () => {
    const p = fakeProvider();
    const clock = manualClock();
    const cache = new SecretCache(p.fetch, timing, undefined, clock);
    expect(cache.peek('k')).toBeUndefined();
    await cache.get('k');
    expect(cache.peek('k')).toBe('v1');
    p.value = 'v2';
    await clock.advance(7_999);
    expect(p.calls).toBe(1);
    await clock.advance(1); // 80 % of the TTL
    expect(p.calls).toBe(2);
    expect(cache.peek('k')).toBe('v2');
    expect(cache.status('k')).toMatchObject({ cached: true, stale: false, failures: 0 });
  });

  it('keeps serving the last good value through an outage up to maxStale, then fails closed', async () => {
    const p = fakeProvider();
    const clock = manualClock();
    const cache = new SecretCache(p.fetch, timing, undefined, clock);
    await cache.get('k');
    p.failing = true;
    await clock.advance(8_000); // background refresh fails, retried with backoff
    expect(cache.peek('k')).toBe('v1');
    await clock.advance(6_000); // 14 s: expired but within ttl + maxStale (15 s)
    expect(cache.peek('k')).toBe('v1');
    expect(cache.status('k')).toMatchObject({ stale: true, lastError: 'provider down' });
    await clock.advance(1_000); // 15 s
    expect(cache.peek('k')).toBeUndefined();
    await expect(cache.get('k')).rejects.toMatchObject({ code: 'JOCH_SECRET_UNAVAILABLE', message: 'secret "k": provider down' });
    p.failing = false; // recovers by itself through the retries
    await clock.advance(30_000);
    expect(cache.peek('k')).toBe('v1');
  });

  it('invalidation drops the value and ignores a fetch that was in flight before it', async () => {
    const p = fakeProvider();
    const cache = new SecretCache(p.fetch, timing, undefined, manualClock());
    await cache.get('k');
    let open: () => void = () => undefined;
    p.gate = new Promise((r) => (open = r));
    const old = cache.refresh('k');
    expect(cache.invalidate('k')).toBe('v1');
    expect(cache.peek('k')).toBeUndefined();
    p.value = 'rotated';
    const fresh = cache.refresh('k');
    open();
    await old;
    expect(await fresh).toBe('rotated');
    expect(cache.peek('k')).toBe('rotated');
  });

  it('tells its listener about every new value (the redactor and the exfiltration guard learn it)', async () => {
    const p = fakeProvider();
    const seen: string[] = [];
    const cache = new SecretCache(p.fetch, timing, (_n, v) => seen.push(v), manualClock());
    await cache.get('k');
    p.value = 'v2';
    await cache.refresh('k');
    expect(seen).toEqual(['v1', 'v2']);
  });
});
