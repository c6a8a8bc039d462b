import type { Logger } from 'pino';
import type { AuditEvents } from '../audit/log.js';
import { SYSTEM_ACTOR } from '../audit/record.js';
import type { GatewayConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import { SecretBroker, type RotationEvent } from '../secrets/broker.js';
import { RedisInvalidationBus, StoreInvalidationBus, type InvalidationBus } from '../secrets/bus.js';
import type { SecretDefinition } from '../secrets/resource.js';
import type { Store } from '../state/store.js';

/**
 * The Secret broker of a gateway process. Rotations reach the other replicas through
 * `secrets.redis`, or else the store's Redis (single node); the processes of one `serve
 * --workers N` without Redis share the primary's store, and rotations travel through it.
 * A rotation is audited where it was asked for; the others only follow it.
 */
export function secretBroker(
  config: GatewayConfig,
  definitions: readonly SecretDefinition[],
  deps: { metrics: Metrics; log: Logger; audit: AuditEvents; store: Store; workers: boolean; onRotated?: (event: RotationEvent) => void },
): SecretBroker {
  const { metrics, log } = deps;
  const storeRedis = config.state.store.kind === 'redis' ? config.state.store.redis : undefined;
  const url = config.secrets.redis ?? storeRedis?.url;
  let bus: InvalidationBus | undefined;
  if (url !== undefined) bus = new RedisInvalidationBus(url, config.secrets.channel ?? `${storeRedis?.keyPrefix ?? 'joch:'}secrets:invalidate`);
  else if (deps.workers) bus = new StoreInvalidationBus(deps.store, config.state.tenant);
  return new SecretBroker(definitions, {
    ...(bus !== undefined ? { bus } : {}),
    onRotate: (event) => {
      metrics.secretRotations.inc({ origin: event.origin });
      log.info({ secret: event.secret, origin: event.origin, refreshed: event.refreshed }, event.error ?? 'secret rotated');
      if (event.origin === 'local') {
        deps.audit.record({
          tenant: config.state.tenant,
          type: 'secret.rotated',
          actor: event.actor !== undefined ? { type: 'operator', id: event.actor } : SYSTEM_ACTOR,
          data: { secret: event.secret, refreshed: event.refreshed, ...(event.error !== undefined ? { error: event.error } : {}) },
        });
      }
      deps.onRotated?.(event);
    },
    onError: (secret, message) => {
      metrics.secretFetchErrors.inc({ secret });
      log.warn({ secret }, message);
    },
  });
}
