import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, CompactSign, compactVerify, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Logger } from 'pino';
import { JochError } from '../errors.js';
import { checkTenant, type Store } from '../state/store.js';
import type { AuditJournal } from './log.js';
import type { VerifiedCheckpoint } from './verify.js';

/** The log (per tenant) that holds signed checkpoints, as compact JWS strings. */
export const CHECKPOINT_LOG = 'audit-checkpoints';

export interface CheckpointKey {
  readonly privateKey: CryptoKey;
  /** Public half, for verifiers (served by the admin API; publish it outside the store too). */
  readonly publicJwk: JWK;
  readonly kid: string;
}

/** What a checkpoint asserts: the tenant's chain had `seq` records ending in `hash` at `iat`. */
export interface CheckpointClaims {
  readonly iss: 'joch';
  readonly tenant: string;
  readonly seq: number;
  readonly hash: string;
  readonly iat: number;
}

/** An Ed25519 key from a private JWK file, or a fresh one (checkpoints then verify only while this process's key is known). */
export async function checkpointKey(jwkFile?: string): Promise<CheckpointKey> {
  let jwk: JWK;
  if (jwkFile !== undefined) {
    try {
      jwk = JSON.parse(await readFile(jwkFile, 'utf8')) as JWK;
    } catch (err) {
      throw new JochError('JOCH_CONFIG', `cannot read the checkpoint key ${jwkFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { file: jwkFile });
    }
    if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.d !== 'string') {
      throw new JochError('JOCH_CONFIG', `the checkpoint key ${jwkFile} must be a private Ed25519 JWK (kty OKP, crv Ed25519, with d)`, { file: jwkFile });
    }
  } else {
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    jwk = await exportJWK(pair.privateKey);
  }
  const { d: _private, ...publicJwk } = jwk;
  const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
  return { privateKey: (await importJWK({ ...jwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey, publicJwk: { ...publicJwk, kid, alg: 'EdDSA', use: 'sig' }, kid };
}

/**
 * Signs the head of each tenant's chain (JWS, EdDSA) and appends it to the tenant's checkpoint
 * log: periodically for tenants written since the last round, and on demand. A checkpoint
 * kept outside the store anchors the chain: a rewritten or truncated chain no longer matches.
 */
export class Checkpointer {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly audit: AuditJournal,
    private readonly store: Store,
    private readonly key: CheckpointKey,
    private readonly log?: Logger,
  ) {}

  async checkpoint(tenant: string): Promise<string | undefined> {
    const head = await this.audit.head(checkTenant(tenant));
    if (head.seq === 0) return undefined;
    const claims: CheckpointClaims = { iss: 'joch', tenant, seq: head.seq, hash: head.hash, iat: Math.floor(Date.now() / 1000) };
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims))).setProtectedHeader({ alg: 'EdDSA', kid: this.key.kid, typ: 'joch-audit-checkpoint' }).sign(this.key.privateKey);
    for (;;) {
      const length = await this.store.length(tenant, CHECKPOINT_LOG);
      if ((await this.store.append(tenant, CHECKPOINT_LOG, length, [jws])).ok) return jws;
    }
  }

  async list(tenant: string): Promise<string[]> {
    return (await this.store.read(checkTenant(tenant), CHECKPOINT_LOG, 1, 100_000)).map((e) => e.value);
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.audit.takeTouched().then(
        (tenants) => {
          for (const t of tenants) {
            this.checkpoint(t).catch((err: Error) => {
              this.audit.touch(t);
              this.log?.warn({ tenant: t, err: err.message }, 'audit checkpoint failed; retrying next round');
            });
          }
        },
        (err: Error) => this.log?.warn({ err: err.message }, 'audit checkpoint round skipped: the audit log did not say which tenants it wrote'),
      );
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Verifies one tenant's checkpoints against a public key. Checkpoints naming another key id
 * (another replica's generated key: share `audit.checkpointKeyFile` across replicas) are
 * counted, not trusted; one naming this key that does not verify is an error naming it.
 */
export async function verifyCheckpoints(tenant: string, jwsList: readonly string[], publicJwk: JWK): Promise<{ verified: VerifiedCheckpoint[]; otherKeys: number }> {
  const key = await importJWK({ ...publicJwk, alg: 'EdDSA' }, 'EdDSA');
  const verified: VerifiedCheckpoint[] = [];
  let otherKeys = 0;
  for (const [i, jws] of jwsList.entries()) {
    let claims: CheckpointClaims;
    try {
      if (decodeProtectedHeader(jws).kid !== publicJwk.kid) {
        otherKeys++;
        continue;
      }
      const { payload } = await compactVerify(jws, key, { algorithms: ['EdDSA'] });
      claims = JSON.parse(new TextDecoder().decode(payload)) as CheckpointClaims;
    } catch (err) {
      throw new JochError('JOCH_AUDIT_CHECKPOINT', `checkpoint ${i + 1} of tenant "${tenant}" does not verify: ${(err as Error).message}`);
    }
    if (claims.tenant !== tenant || !Number.isSafeInteger(claims.seq) || typeof claims.hash !== 'string') {
      throw new JochError('JOCH_AUDIT_CHECKPOINT', `checkpoint ${i + 1} is not a checkpoint of tenant "${tenant}"`);
    }
    verified.push({ seq: claims.seq, hash: claims.hash });
  }
  return { verified, otherKeys };
}
