import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Store } from '../state/store.js';

/**
 * Tells every replica that a Secret was rotated, so each drops its cached value. Messages carry
 * the Secret's name only, never a value.
 */
export interface InvalidationBus {
  publish(secret: string): Promise<void>;
  /** `handler` runs for rotations published by other replicas (not this one's own). */
  subscribe(handler: (secret: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** One process: replicas are buses of the same hub (tests, and the embedded single-process mode). */
export class MemoryInvalidationHub {
  private readonly handlers = new Map<symbol, (secret: string) => void>();

  bus(): InvalidationBus {
    const id = Symbol('replica');
    return {
      publish: async (secret) => {
        for (const [other, h] of this.handlers) if (other !== id) queueMicrotask(() => h(secret));
      },
      subscribe: async (handler) => {
        this.handlers.set(id, handler);
      },
      close: async () => {
        this.handlers.delete(id);
      },
    };
  }
}

interface Message {
  readonly secret: string;
  readonly origin: string;
}

/**
 * Redis pub/sub (ioredis): one connection publishes, a second one subscribes (a subscribed
 * Redis connection can do nothing else). Pub/sub is fire-and-forget: a replica that is
 * disconnected during a rotation misses it and keeps the old value until its TTL; the cache
 * TTL bounds that window.
 */
export class RedisInvalidationBus implements InvalidationBus {
  private readonly pub: Redis;
  private sub: Redis | undefined;
  private readonly origin = randomUUID();

  constructor(
    url: string,
    private readonly channel = 'joch:secrets:invalidate',
    private readonly subscribeWaitMs = 3000,
  ) {
    this.pub = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 2 });
    this.pub.on('error', () => undefined); // reconnects by itself; publish() reports failures
  }

  async publish(secret: string): Promise<void> {
    if (this.pub.status === 'wait') await this.pub.connect();
    await this.pub.publish(this.channel, JSON.stringify({ secret, origin: this.origin } satisfies Message));
  }

  async subscribe(handler: (secret: string) => void): Promise<void> {
    const sub = this.pub.duplicate();
    sub.on('error', () => undefined);
    this.sub = sub;
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      const m = parseMessage(text);
      if (m !== undefined && m.origin !== this.origin) handler(m.secret);
    });
    // Redis down at start-up must not hold the gateway back: ioredis keeps reconnecting and
    // subscribes again once connected; until then rotations elsewhere reach us only by TTL.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([sub.subscribe(this.channel).catch(() => undefined), new Promise((r) => (timer = setTimeout(r, this.subscribeWaitMs)))]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await Promise.all([this.pub.quit().catch(() => undefined), this.sub?.quit().catch(() => undefined)]);
  }
}

/**
 * Over the state store's pub/sub: the processes of one gateway that share a store without Redis
 * (`serve --workers N` in memory mode, where the store lives in the primary process).
 */
export class StoreInvalidationBus implements InvalidationBus {
  private readonly origin = randomUUID();
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly store: Pick<Store, 'publish' | 'subscribe'>,
    private readonly tenant: string,
    private readonly topic = 'secrets/invalidate',
  ) {}

  async publish(secret: string): Promise<void> {
    await this.store.publish(this.tenant, this.topic, JSON.stringify({ secret, origin: this.origin } satisfies Message));
  }

  async subscribe(handler: (secret: string) => void): Promise<void> {
    this.unsubscribe = await this.store.subscribe(this.tenant, this.topic, (text) => {
      const m = parseMessage(text);
      if (m !== undefined && m.origin !== this.origin) handler(m.secret);
    });
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}

/** A bus message, or undefined when the text is not one. */
function parseMessage(text: string): Message | undefined {
  try {
    const m = JSON.parse(text) as Partial<Message>;
    return typeof m.secret === 'string' && typeof m.origin === 'string' ? { secret: m.secret, origin: m.origin } : undefined;
  } catch {
    return undefined;
  }
}
