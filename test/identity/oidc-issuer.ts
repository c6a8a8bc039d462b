import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/**
 * A real OIDC issuer on loopback: serves its discovery document and JWKS over HTTP and signs
 * RS256 tokens. `rotate()` replaces the signing key (the JWKS then serves only the new one).
 */
export interface TestIssuer {
  readonly issuer: string;
  token(sub: string, claims?: Record<string, unknown>, opts?: { audience?: string; expiresIn?: string | number }): Promise<string>;
  rotate(): Promise<void>;
  readonly jwksFetches: () => number;
  close(): Promise<void>;
}

export async function startIssuer(audience = 'joch-admin'): Promise<TestIssuer> {
  let key: { kid: string; privateKey: CryptoKey; jwk: JWK };
  let n = 0;
  let fetches = 0;
  const newKey = async (): Promise<typeof key> => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `k${++n}`;
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
  };
  key = await newKey();
  let base = '';
  const server: Server = createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: base, jwks_uri: `${base}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }));
    } else if (req.url === '/jwks') {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [key.jwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return {
    issuer: base,
    token: (sub, claims = {}, opts = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: key.kid })
        .setIssuer(base)
        .setSubject(sub)
        .setAudience(opts.audience ?? audience)
        .setIssuedAt()
        .setExpirationTime(opts.expiresIn ?? '5m')
        .sign(key.privateKey),
    rotate: async () => {
      key = await newKey();
    },
    jwksFetches: () => fetches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
