import { JochError } from '../errors.js';
import type { OidcOptions } from '../identity/oidc.js';
import { ROLES, type RoleBinding } from '../identity/rbac.js';
import type { HostPortRef, RedisStoreOptions } from './redis.js';
import { checkTenant } from './store.js';

/** `store:` in the config file. */
export interface StoreInput {
  kind?: 'memory' | 'redis';
  url?: string;
  sentinel?: { name: string; sentinels: string[]; password?: string };
  cluster?: { nodes: string[] };
  keyPrefix?: string;
}

/** `audit:` in the config file. */
export interface AuditInput {
  enabled?: boolean;
  /** Memory mode: folder of per-tenant JSON Lines files (loaded at start, appended as records are written). */
  file?: string;
  maxBuffered?: number;
  /** Memory store: newest records held per tenant (older ones only in `file`; default 100 000). */
  maxHeldInMemory?: number;
  batchSize?: number;
  /**
   * Build and hash the stored records on a worker thread (default false: on the main thread,
   * which measured cheaper for it than handing batches over and taking them back).
   */
  worker?: boolean;
  /** Signed checkpoints of each written tenant's head, this often (0: off; default 60). */
  checkpointIntervalSeconds?: number;
  /** Private Ed25519 JWK for checkpoints (default: a key generated at start). */
  checkpointKeyFile?: string;
}

export interface AdminAuthInput {
  token?: string;
  tokenFile?: string;
  oidc?: OidcOptions;
  bindings?: RoleBinding[];
}

/** What `store`, `audit`, `policySource`, `adminAuth` and `tenant` resolve to. */
export interface StateSettings {
  readonly store: { readonly kind: 'memory' } | { readonly kind: 'redis'; readonly redis: RedisStoreOptions };
  readonly audit: { readonly enabled: boolean; readonly file?: string; readonly maxBuffered: number; readonly maxHeldInMemory: number; readonly batchSize: number; readonly worker: boolean; readonly checkpointIntervalSeconds: number; readonly checkpointKeyFile?: string };
  /** Where the engine's policies come from: folders (the embedded default) or the store. */
  readonly policySource: { readonly kind: 'folder' } | { readonly kind: 'store'; readonly tenant: string; readonly environment: string };
  readonly adminAuth: AdminAuthInput;
  /** Tenant of decisions and admin calls that name none. */
  readonly tenant: string;
}

export interface StateInput {
  store?: StoreInput;
  audit?: AuditInput;
  policySource?: { kind?: 'folder' | 'store'; tenant?: string; environment?: string };
  adminAuth?: AdminAuthInput;
  tenant?: string;
  /** JOCH_STORE_URL: Redis at this URL. */
  storeUrl?: string;
  /** JOCH_ADMIN_TOKEN: the static admin token. */
  adminToken?: string;
}

export function resolveStateSettings(input: StateInput): StateSettings {
  const tenant = checkTenant(input.tenant ?? 'default');
  const s = input.store ?? {};
  const kind = input.storeUrl !== undefined ? 'redis' : (s.kind ?? (s.url || s.sentinel || s.cluster ? 'redis' : 'memory'));
  const store: StateSettings['store'] =
    kind === 'memory'
      ? { kind }
      : {
          kind,
          redis: {
            ...(input.storeUrl ?? s.url ? { url: input.storeUrl ?? s.url } : {}),
            ...(s.sentinel ? { sentinel: { name: s.sentinel.name, sentinels: s.sentinel.sentinels.map((a) => hostPort(a, 'store.sentinel.sentinels')), ...(s.sentinel.password ? { password: s.sentinel.password } : {}) } } : {}),
            ...(s.cluster ? { cluster: { nodes: s.cluster.nodes.map((a) => hostPort(a, 'store.cluster.nodes')) } } : {}),
            ...(s.keyPrefix !== undefined ? { keyPrefix: s.keyPrefix } : {}),
          },
        };
  const a = input.audit ?? {};
  const p = input.policySource ?? {};
  const policySource: StateSettings['policySource'] = p.kind === 'store' ? { kind: 'store', tenant: checkTenant(p.tenant ?? tenant), environment: p.environment ?? 'prod' } : { kind: 'folder' };
  const adminAuth: AdminAuthInput = { ...input.adminAuth, ...(input.adminToken !== undefined ? { token: input.adminToken } : {}) };
  for (const [i, b] of (adminAuth.bindings ?? []).entries()) {
    if (!ROLES.includes(b.role)) throw new JochError('JOCH_CONFIG', `adminAuth.bindings[${i}].role must be one of ${ROLES.join(', ')}, not "${String(b.role)}"`);
  }
  return {
    store,
    audit: {
      enabled: a.enabled ?? true,
      ...(a.file !== undefined ? { file: a.file } : {}),
      maxBuffered: a.maxBuffered ?? 100_000,
      maxHeldInMemory: a.maxHeldInMemory ?? 100_000,
      batchSize: a.batchSize ?? 512,
      worker: a.worker ?? true,
      checkpointIntervalSeconds: a.checkpointIntervalSeconds ?? 60,
      ...(a.checkpointKeyFile !== undefined ? { checkpointKeyFile: a.checkpointKeyFile } : {}),
    },
    policySource,
    adminAuth,
    tenant,
  };
}

function hostPort(value: string, where: string): HostPortRef {
  const m = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(value);
  if (!m) throw new JochError('JOCH_CONFIG', `${where} entries must be HOST:PORT, not "${value}"`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}
