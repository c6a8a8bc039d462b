import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { JochError } from '../errors.js';
import type { Operator } from './rbac.js';

export interface OidcOptions {
  /** The issuer URL; its discovery document gives the JWKS unless `jwksUri` is set. */
  readonly issuer: string;
  /** Accepted `aud` value(s). */
  readonly audience: string | readonly string[];
  readonly jwksUri?: string;
  /** Claim holding the operator's groups (default `groups`). */
  readonly groupsClaim?: string;
  /** Least time between JWKS refetches for unknown key ids (default 30 s); rotated keys are picked up on first sight. */
  readonly jwksCooldownMs?: number;
  /** How long fetched keys are trusted before refetching (default 10 min). */
  readonly jwksMaxAgeMs?: number;
}

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * Verifies operators' OIDC bearer tokens with jose against the issuer's JWKS (cached; a token
 * signed with a key id not yet seen triggers a refetch, so rotation needs no restart).
 */
export class OidcVerifier {
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  private discovering: Promise<ReturnType<typeof createRemoteJWKSet>> | undefined;

  constructor(private readonly options: OidcOptions) {
    const url = new URL(options.issuer);
    if (url.protocol !== 'https:' && !isLoopback(url.hostname)) {
      throw new JochError('JOCH_CONFIG', `the OIDC issuer ${options.issuer} must use https (plain http only on loopback)`);
    }
  }

  async verify(token: string): Promise<Operator> {
    const jwks = await this.keys();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, jwks, { issuer: this.options.issuer, audience: [...[this.options.audience].flat()], algorithms: ALGORITHMS, requiredClaims: ['exp', 'sub'] }));
    } catch (err) {
      const why = err instanceof errors.JWTExpired ? 'the token has expired' : err instanceof errors.JWKSNoMatchingKey ? 'no key of the issuer matches the token' : err instanceof errors.JWTClaimValidationFailed ? `claim "${err.claim}" is not accepted` : 'the token does not verify';
      throw new JochError('JOCH_AUTH_INVALID', `bearer token rejected: ${why}`);
    }
    const groups = payload[this.options.groupsClaim ?? 'groups'];
    return { id: String(payload.sub), issuer: this.options.issuer, groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [] };
  }

  private keys(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.jwks) return Promise.resolve(this.jwks);
    this.discovering ??= this.discover().then(
      (uri) => (this.jwks = createRemoteJWKSet(new URL(uri), { cooldownDuration: this.options.jwksCooldownMs ?? 30_000, cacheMaxAge: this.options.jwksMaxAgeMs ?? 600_000 })),
      (err: unknown) => {
        this.discovering = undefined;
        throw err;
      },
    );
    return this.discovering;
  }

  private async discover(): Promise<string> {
    if (this.options.jwksUri !== undefined) return this.options.jwksUri;
    const url = `${this.options.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const doc = (await res.json()) as { issuer?: string; jwks_uri?: string };
      if (doc.issuer !== this.options.issuer) throw new Error(`the discovery document names issuer ${JSON.stringify(doc.issuer)}`);
      if (typeof doc.jwks_uri !== 'string') throw new Error('the discovery document has no jwks_uri');
      return doc.jwks_uri;
    } catch (err) {
      throw new JochError('JOCH_AUTH_UNAVAILABLE', `cannot read the OIDC discovery document ${url}: ${(err as Error).message}`);
    }
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host.startsWith('127.');
}
