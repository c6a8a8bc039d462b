import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBroker, type RotationEvent } from '../../src/secrets/broker.js';
import { MemoryInvalidationHub, RedisInvalidationBus, type InvalidationBus } from '../../src/secrets/bus.js';
import { KnownSecrets } from '../../src/secrets/known.js';
import type { SecretDefinition } from '../../src/secrets/resource.js';

const REDIS = 'redis://127.0.0.1:6379';
const def: SecretDefinition = { name: 'openai-api-key', namespace: undefined, source: { kind: 'env', name: 'KEY' }, ttlMs: 3_600_000, maxStaleMs: 0, file: 's.yaml', line: 1 };

/** Two replicas reading the same provider (a shared env map standing in for the store's current value). */
async function replicas(buses: [InvalidationBus, InvalidationBus]) {
  const store: Record<string, string | undefined> = { KEY: 'old-value-123456' };
  const events: RotationEvent[] = [];
  const make = (bus: InvalidationBus) => new SecretBroker([def], { env: store, bus, known: new KnownSecrets(), onRotate: (e) => events.push(e) });
  const a = make(buses[0]);
  const b = make(buses[1]);
  await Promise.all([a.listen(), b.listen()]);
  await Promise.all([a.warm(), b.warm()]);
  return { store, events, a, b };
}

async function rotationAcrossReplicas(buses: [InvalidationBus, InvalidationBus]): Promise<void> {
  const { store, events, a, b } = await replicas(buses);
  expect([a.peek(def.name), b.peek(def.name)]).toEqual(['old-value-123456', 'old-value-123456']);
  store.KEY = 'new-value-654321'; // rotated at the provider; the caches still hold the old one for an hour
  expect(b.peek(def.name)).toBe('old-value-123456');
  const event = await a.rotate(def.name, 'alice@example.com');
  expect(event).toMatchObject({ type: 'secret.rotated', secret: def.name, origin: 'local', actor: 'alice@example.com', refreshed: true });
  expect(a.peek(def.name)).toBe('new-value-654321');
  await expect.poll(() => b.peek(def.name), { timeout: 5000 }).toBe('new-value-654321');
  await expect.poll(() => events.map((e) => e.origin).sort(), { timeout: 5000 }).toEqual(['local', 'remote']);
  expect(JSON.stringify(events)).not.toMatch(/value-/);
  await Promise.all([a.close(), b.close()]);
}

describe('rotation', () => {
  it('reaches every replica through the in-memory bus, and is audited', async () => {
    const hub = new MemoryInvalidationHub();
    await rotationAcrossReplicas([hub.bus(), hub.bus()]);
  });

  it('reaches every replica through Redis pub/sub', async () => {
    const channel = `joch-test:secrets:${randomUUID()}`;
    await rotationAcrossReplicas([new RedisInvalidationBus(REDIS, channel), new RedisInvalidationBus(REDIS, channel)]);
  });

  it('an unknown name is refused; a provider failure is reported, and the old value is gone', async () => {
    const hub = new MemoryInvalidationHub();
    const { store, a, b } = await replicas([hub.bus(), hub.bus()]);
    await expect(a.rotate('nope')).rejects.toMatchObject({ code: 'JOCH_SECRET_UNKNOWN' });
    store.KEY = undefined;
    const event = await a.rotate(def.name);
    expect(event).toMatchObject({ refreshed: false, error: 'secret "openai-api-key": environment variable KEY is not set' });
    expect(a.peek(def.name)).toBeUndefined();
    await expect.poll(() => b.peek(def.name), { timeout: 5000 }).toBeUndefined();
    expect(a.list()).toEqual([
      expect.objectContaining({ name: def.name, source: 'env', cached: false, definedAt: 's.yaml:1', lastError: 'secret "openai-api-key": environment variable KEY is not set' }),
    ]);
    await Promise.all([a.close(), b.close()]);
  });

  it('an unreachable Redis neither blocks start-up nor hides that other replicas were not told', async () => {
    const broker = new SecretBroker([def], { env: { KEY: 'a-value-123456789' }, bus: new RedisInvalidationBus('redis://127.0.0.1:1', 'joch-test:unreachable', 200), known: new KnownSecrets() });
    await broker.listen();
    const event = await broker.rotate(def.name);
    expect(event.refreshed).toBe(true);
    expect(event.error).toMatch(/^the other replicas could not be told: /);
    expect(broker.peek(def.name)).toBe('a-value-123456789');
    await broker.close();
  });
});
