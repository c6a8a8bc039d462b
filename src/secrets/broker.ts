import { JochError } from '../errors.js';
import type { InvalidationBus } from './bus.js';
import { SecretCache, systemClock, type CacheClock, type CacheStatus } from './cache.js';
import { knownSecrets, type KnownSecrets } from './known.js';
import { createProvider, type ProviderEnv, type SecretProvider } from './providers.js';
import { SecretCodes, type SecretDefinition } from './resource.js';

/** What the edge needs from the broker: a synchronous warm read, an async cold one, and the known values. */
export interface SecretAccess {
  /** The cached value when usable now; never waits, never calls a provider on this path. */
  peek(name: string): string | undefined;
  /** The value, fetching it when cold. Rejects with JOCH_SECRET_UNAVAILABLE (no value in the message). */
  resolve(name: string): Promise<string>;
  readonly known: KnownSecrets;
}

/** An audit event for the lead's audit log: who rotated what, and whether the new value could be fetched. */
export interface RotationEvent {
  readonly type: 'secret.rotated';
  readonly secret: string;
  readonly at: string;
  /** `local`: rotated through this replica's admin API; `remote`: another replica said so. */
  readonly origin: 'local' | 'remote';
  readonly actor?: string;
  readonly refreshed: boolean;
  readonly error?: string;
}

export interface SecretStatus extends CacheStatus {
  readonly name: string;
  readonly namespace: string | null;
  readonly source: SecretDefinition['source']['kind'];
  readonly definedAt: string;
}

export interface BrokerOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly clock?: CacheClock;
  readonly known?: KnownSecrets;
  readonly bus?: InvalidationBus;
  readonly onRotate?: (event: RotationEvent) => void;
  /** A failed background fetch (message only; it never holds a value). */
  readonly onError?: (secret: string, message: string) => void;
}

interface Slot {
  readonly def: SecretDefinition;
  readonly provider: SecretProvider;
  readonly unwatch: (() => void) | undefined;
}

/**
 * Resolves Secret references at the gateway and keeps their values in a cache that the hot
 * path reads synchronously. Values leave the broker only toward the edge, which puts them into
 * an outbound header; everything else (admin API, logs, decisions) sees names and timing.
 */
export class SecretBroker implements SecretAccess {
  readonly known: KnownSecrets;
  private readonly slots = new Map<string, Slot>();
  private readonly cache: SecretCache;
  private readonly penv: ProviderEnv;

  constructor(
    definitions: readonly SecretDefinition[],
    private readonly options: BrokerOptions = {},
  ) {
    this.known = options.known ?? knownSecrets;
    const clock = options.clock ?? systemClock;
    this.penv = { env: options.env ?? process.env, now: () => clock.now(), remember: (c) => this.known.add(c) };
    this.cache = new SecretCache(
      (name) => this.fetch(name),
      (name) => this.slots.get(name)?.def ?? { ttlMs: 0, maxStaleMs: 0 },
      (_name, value) => this.known.add(value),
      clock,
    );
    this.update(definitions);
  }

  /** Starts listening for rotations from other replicas. */
  async listen(): Promise<void> {
    await this.options.bus?.subscribe((secret) => {
      if (!this.slots.has(secret)) return;
      void this.reload(secret).then((r) => this.options.onRotate?.({ type: 'secret.rotated', secret, at: new Date(this.penv.now()).toISOString(), origin: 'remote', ...r }));
    });
  }

  peek(name: string): string | undefined {
    return this.cache.peek(name);
  }

  resolve(name: string): Promise<string> {
    if (!this.slots.has(name)) return Promise.reject(new JochError(SecretCodes.unknown, `no Secret named "${name}" is loaded`));
    return this.cache.get(name);
  }

  /** Fetches every Secret once; waits at most `timeoutMs` (failures are retried in the background). */
  async warm(timeoutMs = 5000): Promise<void> {
    const all = Promise.allSettled([...this.slots.keys()].map((n) => this.cache.get(n)));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  /**
   * Replaces the definitions (policy reload). A Secret whose reference changed is dropped from
   * the cache and fetched anew; one that is gone is forgotten.
   */
  update(definitions: readonly SecretDefinition[]): void {
    const next = new Map(definitions.map((d) => [d.name, d]));
    for (const [name, slot] of this.slots) {
      const d = next.get(name);
      if (d !== undefined && sameReference(d, slot.def)) {
        this.slots.set(name, { ...slot, def: d });
        continue;
      }
      slot.unwatch?.();
      this.slots.delete(name);
      this.cache.invalidate(name);
    }
    for (const d of definitions) {
      if (this.slots.has(d.name)) continue;
      const provider = createProvider(d, this.penv);
      const unwatch = provider.watch?.(() => void this.reload(d.name));
      this.slots.set(d.name, { def: d, provider, unwatch });
    }
  }

  /**
   * `joch secret rotate NAME`: drops the cached value here and on every replica (through the
   * bus), fetches the new one, and reports the rotation for audit.
   */
  async rotate(name: string, actor?: string): Promise<RotationEvent> {
    if (!this.slots.has(name)) throw new JochError(SecretCodes.unknown, `no Secret named "${name}" is loaded`, {}, 'joch secret rotate takes the metadata.name of a kind: Secret resource');
    const r = await this.reload(name);
    let published: string | undefined;
    try {
      await this.options.bus?.publish(name);
    } catch (err) {
      published = `the other replicas could not be told: ${(err as Error).message}`;
    }
    const error = [r.error, published].filter((e) => e !== undefined).join('; ');
    const event: RotationEvent = { type: 'secret.rotated', secret: name, at: new Date(this.penv.now()).toISOString(), origin: 'local', refreshed: r.refreshed, ...(actor ? { actor } : {}), ...(error ? { error } : {}) };
    this.options.onRotate?.(event);
    return event;
  }

  list(): SecretStatus[] {
    return [...this.slots.values()]
      .map(({ def }) => ({ name: def.name, namespace: def.namespace ?? null, source: def.source.kind, definedAt: `${def.file}:${def.line}`, ...this.cache.status(def.name) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async close(): Promise<void> {
    this.cache.close();
    for (const s of this.slots.values()) s.unwatch?.();
    await this.options.bus?.close();
  }

  private async reload(name: string): Promise<{ refreshed: boolean; error?: string }> {
    this.cache.invalidate(name);
    try {
      await this.cache.refresh(name);
      return { refreshed: true };
    } catch (err) {
      return { refreshed: false, error: (err as Error).message };
    }
  }

  private async fetch(name: string): Promise<string> {
    const slot = this.slots.get(name);
    if (slot === undefined) throw new JochError(SecretCodes.unknown, `no Secret named "${name}" is loaded`);
    try {
      return await slot.provider.fetch();
    } catch (err) {
      this.options.onError?.(name, (err as Error).message);
      throw err;
    }
  }
}

function sameReference(a: SecretDefinition, b: SecretDefinition): boolean {
  return JSON.stringify(a.source) === JSON.stringify(b.source);
}
