import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';

/**
 * Loopback servers speaking the wire protocols of the secret stores the broker reads:
 * Vault's KV v2 and auth APIs, the Kubernetes Secrets API, and AWS Secrets Manager's JSON API
 * with an independent SigV4 verification (written here from the AWS documentation, sharing no
 * code with src/secrets/sigv4.ts). Each counts requests and can be told to fail.
 */
export interface StoreServer {
  readonly url: string;
  /** Requests that reached the store (after authentication). */
  hits: number;
  /** When set, every request is answered with this status (an outage). */
  failWith: number | undefined;
  /** Delay before answering, to let concurrent callers pile up. */
  delayMs: number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function json(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type });
  res.end(JSON.stringify(body));
}

/** A certificate and key for https on 127.0.0.1 (tests pass the certificate as the CA). */
export interface TlsIdentity {
  readonly cert: string;
  readonly key: string;
}

function store(handler: (req: IncomingMessage, body: string, res: ServerResponse, s: StoreServer) => void, tls?: TlsIdentity): Promise<StoreServer> {
  const s: StoreServer = { url: '', hits: 0, failWith: undefined, delayMs: 0, close: async () => undefined };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    void readBody(req).then(async (body) => {
      if (s.delayMs > 0) await new Promise((r) => setTimeout(r, s.delayMs));
      if (s.failWith !== undefined) return json(res, s.failWith, { errors: ['store unavailable'] });
      handler(req, body, res, s);
    });
  };
  const server = tls ? createTlsServer({ cert: tls.cert, key: tls.key }, listener) : createServer(listener);
  return listen(server).then((url) => Object.assign(s, { url: tls ? url.replace('http:', 'https:') : url, close: () => new Promise<void>((r) => server.close(() => r())) }));
}

/** Vault: KV v2 at mount `secret`, token auth, and Kubernetes auth at `auth/kubernetes`. */
export interface VaultServer extends StoreServer {
  /** path under the mount → fields */
  readonly secrets: Map<string, Record<string, string>>;
  readonly tokens: Set<string>;
  logins: number;
}

export async function startVault(opts: { serviceAccountJwt: string; role: string }): Promise<VaultServer> {
  const secrets = new Map<string, Record<string, string>>();
  const tokens = new Set<string>();
  let version = 0;
  const v = (await store((req, body, res, s) => {
    const url = req.url ?? '';
    if (req.method === 'POST' && url === '/v1/auth/kubernetes/login') {
      const { role, jwt } = JSON.parse(body) as { role?: string; jwt?: string };
      if (role !== opts.role || jwt !== opts.serviceAccountJwt) return json(res, 403, { errors: ['permission denied'] });
      vault.logins++;
      const token = `hvs.login-${vault.logins}`;
      tokens.add(token);
      return json(res, 200, { request_id: 'r', lease_id: '', renewable: false, lease_duration: 0, data: null, auth: { client_token: token, accessor: 'a', policies: ['default'], lease_duration: 3600, renewable: true } });
    }
    const m = /^\/v1\/secret\/data\/(.+)$/.exec(url);
    if (req.method !== 'GET' || !m) return json(res, 404, { errors: [] });
    if (!tokens.has(String(req.headers['x-vault-token']))) return json(res, 403, { errors: ['permission denied'] });
    s.hits++;
    const data = secrets.get(m[1] as string);
    if (data === undefined) return json(res, 404, { errors: [] });
    return json(res, 200, {
      request_id: 'r',
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: { data, metadata: { created_time: '2026-01-01T00:00:00Z', deletion_time: '', destroyed: false, version: ++version } },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
  })) as VaultServer;
  const vault = Object.assign(v, { secrets, tokens, logins: 0 });
  return vault;
}

/** The Kubernetes API server's core/v1 Secrets endpoint, with bearer-token authentication. */
export interface KubeServer extends StoreServer {
  /** `namespace/name` → data (plain text; served base64-encoded as the API does) */
  readonly secrets: Map<string, Record<string, string>>;
}

export async function startKubeApi(opts: { token: string; tls?: TlsIdentity }): Promise<KubeServer> {
  const secrets = new Map<string, Record<string, string>>();
  const k = (await store((req, _body, res, s) => {
    if (req.headers.authorization !== `Bearer ${opts.token}`) return json(res, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/?]+)$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !m) return json(res, 404, { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 });
    s.hits++;
    const data = secrets.get(`${m[1]}/${m[2]}`);
    if (data === undefined) return json(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `secrets "${m[2]}" not found`, reason: 'NotFound', details: { name: m[2], kind: 'secrets' }, code: 404 });
    return json(res, 200, {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: { name: m[2], namespace: m[1], resourceVersion: '1' },
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(data).map(([key, val]) => [key, Buffer.from(val).toString('base64')])),
    });
  }, opts.tls)) as KubeServer;
  return Object.assign(k, { secrets });
}

/** AWS Secrets Manager GetSecretValue, answering only requests whose SigV4 signature verifies. */
export interface AwsServer extends StoreServer {
  /** ARN → SecretString */
  readonly secrets: Map<string, string>;
  /** Why the last rejected request was rejected. */
  lastRejection: string | undefined;
}

const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');

/**
 * Recomputes the signature from what arrived: the request line, the headers named in
 * SignedHeaders, and the body; the credential scope must be today's, in this region, for
 * secretsmanager; x-amz-date within 5 minutes.
 */
function verifySigV4(req: IncomingMessage, body: string, keys: Record<string, string>, region: string): string | undefined {
  const auth = req.headers.authorization ?? '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'malformed Authorization header';
  const [, keyId, date, scopeRegion, service, signed, signature] = m as unknown as string[];
  const secret = keys[keyId as string];
  if (secret === undefined) return 'unknown access key';
  if (scopeRegion !== region || service !== 'secretsmanager') return 'wrong credential scope';
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date as string)) return 'x-amz-date does not match the credential date';
  const when = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (!(Math.abs(Date.now() - when) < 5 * 60_000)) return 'request time too skewed';
  const names = (signed as string).split(';');
  if (!names.includes('host') || !names.includes('x-amz-date')) return 'host and x-amz-date must be signed';
  const headerLines = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim()}\n`).join('');
  const [path, query = ''] = (req.url ?? '/').split('?');
  const canonical = `${req.method}\n${path}\n${query}\n${headerLines}\n${signed}\n${sha256hex(body)}`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${date}/${region}/secretsmanager/aws4_request\n${sha256hex(canonical)}`;
  let k: Buffer = createHmac('sha256', `AWS4${secret}`).update(date as string).digest();
  for (const part of [region, 'secretsmanager', 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
  const expected = createHmac('sha256', k).update(toSign).digest();
  return timingSafeEqual(expected, Buffer.from(signature as string, 'hex')) ? undefined : 'signature does not match';
}

export async function startSecretsManager(opts: { region: string; keys: Record<string, string> }): Promise<AwsServer> {
  const secrets = new Map<string, string>();
  const a = (await store((req, body, res, s) => {
    const aws = 'application/x-amz-json-1.1';
    if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue' || req.headers['content-type'] !== aws) {
      return json(res, 400, { __type: 'UnknownOperationException' }, aws);
    }
    const why = verifySigV4(req, body, opts.keys, opts.region);
    if (why !== undefined) {
      aws_.lastRejection = why;
      return json(res, 403, { __type: 'InvalidSignatureException', message: 'The request signature we calculated does not match the signature you provided.' }, aws);
    }
    s.hits++;
    const { SecretId } = JSON.parse(body) as { SecretId: string };
    const value = secrets.get(SecretId);
    if (value === undefined) return json(res, 400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }, aws);
    return json(res, 200, { ARN: SecretId, Name: SecretId.split(':secret:')[1], SecretString: value, VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: 1.7e9 }, aws);
  })) as AwsServer;
  const aws_: AwsServer = Object.assign(a, { secrets, lastRejection: undefined as string | undefined });
  return aws_;
}
