import { secretDetector } from '../scan/secrets.js';
import type { DocPath, ProblemSink } from '../policy/problems.js';

/**
 * `kind: Secret` (joch.dev/v1alpha1): where a secret value lives, never the value itself.
 * Exactly one source: `env`, `file`, `vault`, `kubernetes` or `aws`.
 *
 * Validation is hand-written rather than JSON Schema so that no message ever quotes what the
 * author wrote in a reference field: if that was a pasted value, the error must not repeat it.
 */
export const SecretCodes = {
  schema: 'JOCH_SECRET_SCHEMA',
  inline: 'JOCH_SECRET_INLINE_VALUE',
  duplicate: 'JOCH_SECRET_DUPLICATE',
  unknown: 'JOCH_SECRET_UNKNOWN',
  scope: 'JOCH_SECRET_SCOPE',
  unavailable: 'JOCH_SECRET_UNAVAILABLE',
} as const;

export type SecretSource =
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | {
      readonly kind: 'vault';
      readonly address: string;
      /** KV v2 mount (default `secret`). */
      readonly mount: string;
      readonly path: string;
      readonly field: string;
      readonly auth: VaultAuth;
      readonly caFile?: string;
    }
  | {
      readonly kind: 'kubernetes';
      readonly namespace: string;
      readonly name: string;
      readonly key: string;
      /** Default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT. */
      readonly apiServer?: string;
      readonly tokenFile: string;
      readonly caFile?: string;
    }
  | {
      readonly kind: 'aws';
      readonly arn: string;
      readonly region: string;
      readonly field?: string;
      readonly versionStage?: string;
      /** Default: https://secretsmanager.<region>.amazonaws.com (override for VPC endpoints). */
      readonly endpoint?: string;
    };

/** Vault authentication: a token read from an env var or file, or a Kubernetes service-account login. */
export type VaultAuth =
  | { readonly kind: 'token'; readonly env?: string; readonly file?: string }
  | { readonly kind: 'kubernetes'; readonly role: string; readonly mount: string; readonly jwtFile: string };

export interface SecretDefinition {
  readonly name: string;
  /** A namespaced Secret may only be injected by policies of that namespace. */
  readonly namespace: string | undefined;
  readonly source: SecretSource;
  /** How long a fetched value is fresh; refreshed in the background before then. */
  readonly ttlMs: number;
  /** How long past expiry the last good value is still served while the provider fails. */
  readonly maxStaleMs: number;
  readonly file: string;
  readonly line: number;
}

export const SA_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';
export const SA_CA_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';
const DEFAULT_TTL_MS = 5 * 60_000;
const DEFAULT_MAX_STALE_MS = 60 * 60_000;

const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const ABS_PATH = /^\/[^\0]*$/;
const VAULT_PATH = /^[A-Za-z0-9_.\-/]{1,512}$/;
const VAULT_FIELD = /^[A-Za-z0-9_.\-]{1,256}$/;
const K8S_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z]{2}(-[a-z]+)+-\d):\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/;
const URL_RE = /^https?:\/\/[^\s/]+(\/[^\s]*)?$/;
const DURATION = /^(\d{1,9})(ms|s|m|h)$/;
/** Fields that only ever hold a value: a Secret that has them is refused outright. */
const VALUE_FIELDS = new Set(['value', 'data', 'stringData', 'token', 'password', 'secret', 'apiKey', 'key_value', 'plaintext']);

export function isSecretDocument(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Secret';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A tiny field reader that reports what is wrong without quoting values. */
class Reader {
  ok = true;
  constructor(private readonly sink: ProblemSink) {}

  error(at: DocPath, message: string, hint?: string, code: string = SecretCodes.schema, target: 'key' | 'value' = 'value'): undefined {
    this.sink.error(code, message, at, hint, target);
    this.ok = false;
    return undefined;
  }

  map(o: unknown, at: DocPath, allowed: readonly string[]): Obj | undefined {
    if (!isObj(o)) return this.error(at, `${where(at)} must be a map`);
    for (const k of Object.keys(o)) {
      if (VALUE_FIELDS.has(k)) this.error([...at, k], `a Secret holds a reference, never a value: "${k}" is not allowed`, 'name where the value lives (env, file, vault, kubernetes or aws) and keep the value there', SecretCodes.inline, 'key');
      else if (!allowed.includes(k)) this.error([...at, k], `unknown field "${k}" in ${where(at)}`, `known fields: ${allowed.join(', ')}`, SecretCodes.schema, 'key');
    }
    return o;
  }

  string(o: Obj, key: string, at: DocPath, re: RegExp, what: string, required = true): string | undefined {
    const v = o[key];
    if (v === undefined) return required ? this.error(at, `${where(at)} is missing required field "${key}"`) : undefined;
    if (typeof v !== 'string') return this.error([...at, key], `"${key}" must be a string`);
    if (looksLikeValue(v)) return this.error([...at, key], `"${key}" looks like a secret value, not a reference; a Secret holds references only`, 'keep the value where it lives (environment, file, Vault, Kubernetes, AWS) and name that place here', SecretCodes.inline);
    if (!re.test(v)) return this.error([...at, key], `"${key}" must be ${what}`);
    return v;
  }

  duration(o: Obj, key: string, at: DocPath, fallback: number, minMs: number): number {
    const v = o[key];
    if (v === undefined) return fallback;
    const m = typeof v === 'string' ? DURATION.exec(v) : null;
    if (!m) return this.error([...at, key], `"${key}" must be a duration such as 30s, 5m or 1h`) ?? fallback;
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    const ms = Number(m[1]) * unit;
    if (ms < minMs) return this.error([...at, key], `"${key}" must be at least ${minMs / 1000}s`) ?? fallback;
    return ms;
  }
}

function where(at: DocPath): string {
  return at.length > 0 ? `"${String(at[at.length - 1])}"` : 'the document';
}

const VAULT_TOKEN = /^(hvs|hvb|hvr|s)\.[A-Za-z0-9_-]{20,}$/;
const LONG_RUN = /[A-Za-z0-9+=]{32,}/;

/** A secret-shaped string (API key formats, Vault tokens, JWTs, bearer tokens, PEM keys) or long random-looking text. */
function looksLikeValue(v: string): boolean {
  if (secretDetector.scan(v).length > 0 || VAULT_TOKEN.test(v)) return true;
  if (v.startsWith('/') || v.startsWith('arn:') || /^https?:/.test(v)) return false;
  // A long run of mixed-case letters and digits is how keys and tokens look; names do not.
  const run = LONG_RUN.exec(v)?.[0];
  return run !== undefined && /[a-z]/.test(run) && /[A-Z]/.test(run) && /\d/.test(run);
}

/**
 * Validates one `kind: Secret` document. Every problem goes to `sink`; returns undefined when
 * there was any error.
 */
export function compileSecret(value: unknown, origin: { file: string; line: number }, sink: ProblemSink): SecretDefinition | undefined {
  const r = new Reader(sink);
  const doc = r.map(value, [], ['apiVersion', 'kind', 'metadata', 'spec']);
  if (!doc) return undefined;
  if (doc.apiVersion !== 'joch.dev/v1alpha1') r.error(['apiVersion'], `"apiVersion" must be "joch.dev/v1alpha1"`);
  const meta = r.map(doc.metadata, ['metadata'], ['name', 'namespace', 'labels', 'annotations']);
  const name = meta ? r.string(meta, 'name', ['metadata'], DNS_NAME, 'a DNS name (lower case letters, digits, "-" and ".")') : undefined;
  const namespace = meta ? r.string(meta, 'namespace', ['metadata'], DNS_LABEL, 'a DNS label', false) : undefined;
  const spec = r.map(doc.spec, ['spec'], ['env', 'file', 'vault', 'kubernetes', 'aws', 'cache']);
  if (!spec) return undefined;
  const sources = ['env', 'file', 'vault', 'kubernetes', 'aws'].filter((k) => spec[k] !== undefined);
  if (sources.length !== 1) {
    r.error(['spec'], sources.length === 0 ? `"spec" names no source` : `"spec" names ${sources.length} sources (${sources.join(', ')}); give exactly one`, 'one of env, file, vault, kubernetes, aws');
    return undefined;
  }
  const kind = sources[0] as 'env' | 'file' | 'vault' | 'kubernetes' | 'aws';
  const source = sourceOf(r, kind, spec[kind], ['spec', kind]);
  let ttlMs = DEFAULT_TTL_MS;
  let maxStaleMs = DEFAULT_MAX_STALE_MS;
  if (spec.cache !== undefined) {
    const cache = r.map(spec.cache, ['spec', 'cache'], ['ttl', 'maxStale']);
    if (cache) {
      ttlMs = r.duration(cache, 'ttl', ['spec', 'cache'], DEFAULT_TTL_MS, 1000);
      maxStaleMs = r.duration(cache, 'maxStale', ['spec', 'cache'], DEFAULT_MAX_STALE_MS, 0);
    }
  }
  if (!r.ok || !source || name === undefined) return undefined;
  return { name, namespace, source, ttlMs, maxStaleMs, file: origin.file, line: origin.line };
}

function sourceOf(r: Reader, kind: SecretSource['kind'], raw: unknown, at: DocPath): SecretSource | undefined {
  if (kind === 'env') {
    const o = r.map(raw, at, ['name']);
    const name = o && r.string(o, 'name', at, ENV_NAME, 'an environment variable name', true);
    return name === undefined ? undefined : { kind, name };
  }
  if (kind === 'file') {
    const o = r.map(raw, at, ['path']);
    const path = o && r.string(o, 'path', at, ABS_PATH, 'an absolute path');
    return path === undefined ? undefined : { kind, path };
  }
  if (kind === 'vault') {
    const o = r.map(raw, at, ['address', 'mount', 'path', 'field', 'auth', 'caFile']);
    if (!o) return undefined;
    const address = r.string(o, 'address', at, URL_RE, 'an http(s) URL');
    const mount = r.string(o, 'mount', at, VAULT_PATH, 'a KV v2 mount path', false) ?? 'secret';
    const path = r.string(o, 'path', at, VAULT_PATH, 'a KV v2 secret path');
    const field = r.string(o, 'field', at, VAULT_FIELD, 'a field name');
    const caFile = r.string(o, 'caFile', at, ABS_PATH, 'an absolute path', false);
    const auth = vaultAuth(r, o.auth, [...at, 'auth']);
    if (address === undefined || path === undefined || field === undefined || !auth) return undefined;
    return { kind, address: address.replace(/\/+$/, ''), mount: trimSlashes(mount), path: trimSlashes(path), field, auth, ...(caFile ? { caFile } : {}) };
  }
  if (kind === 'kubernetes') {
    const o = r.map(raw, at, ['namespace', 'name', 'key', 'apiServer', 'tokenFile', 'caFile']);
    if (!o) return undefined;
    const namespace = r.string(o, 'namespace', at, DNS_LABEL, 'a Kubernetes namespace');
    const name = r.string(o, 'name', at, DNS_NAME, 'a Kubernetes Secret name');
    const key = r.string(o, 'key', at, K8S_KEY, 'a key of the Secret\'s data');
    const apiServer = r.string(o, 'apiServer', at, URL_RE, 'an http(s) URL', false);
    const tokenFile = r.string(o, 'tokenFile', at, ABS_PATH, 'an absolute path', false) ?? SA_TOKEN_FILE;
    const caFile = r.string(o, 'caFile', at, ABS_PATH, 'an absolute path', false);
    if (namespace === undefined || name === undefined || key === undefined) return undefined;
    return { kind, namespace, name, key, tokenFile, ...(apiServer ? { apiServer: apiServer.replace(/\/+$/, '') } : {}), ...(caFile ? { caFile } : {}) };
  }
  const o = r.map(raw, at, ['arn', 'field', 'versionStage', 'endpoint']);
  if (!o) return undefined;
  const arn = r.string(o, 'arn', at, ARN, 'a Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)');
  const field = r.string(o, 'field', at, VAULT_FIELD, 'a JSON field name', false);
  const versionStage = r.string(o, 'versionStage', at, /^[A-Za-z0-9_]{1,256}$/, 'a version stage such as AWSCURRENT', false);
  const endpoint = r.string(o, 'endpoint', at, URL_RE, 'an http(s) URL', false);
  if (arn === undefined) return undefined;
  const region = ARN.exec(arn)?.[1] as string;
  return { kind: 'aws', arn, region, ...(field ? { field } : {}), ...(versionStage ? { versionStage } : {}), ...(endpoint ? { endpoint: endpoint.replace(/\/+$/, '') } : {}) };
}

function vaultAuth(r: Reader, raw: unknown, at: DocPath): VaultAuth | undefined {
  const o = r.map(raw, at, ['tokenEnv', 'tokenFile', 'kubernetes']);
  if (!o) return undefined;
  const given = ['tokenEnv', 'tokenFile', 'kubernetes'].filter((k) => o[k] !== undefined);
  if (given.length !== 1) return r.error(at, `"auth" needs exactly one of tokenEnv, tokenFile, kubernetes`);
  if (o.tokenEnv !== undefined) {
    const env = r.string(o, 'tokenEnv', at, ENV_NAME, 'an environment variable name');
    return env === undefined ? undefined : { kind: 'token', env };
  }
  if (o.tokenFile !== undefined) {
    const file = r.string(o, 'tokenFile', at, ABS_PATH, 'an absolute path');
    return file === undefined ? undefined : { kind: 'token', file };
  }
  const k = r.map(o.kubernetes, [...at, 'kubernetes'], ['role', 'mount', 'jwtFile']);
  if (!k) return undefined;
  const role = r.string(k, 'role', [...at, 'kubernetes'], VAULT_FIELD, 'a Vault role name');
  const mount = r.string(k, 'mount', [...at, 'kubernetes'], VAULT_PATH, 'an auth mount path', false) ?? 'kubernetes';
  const jwtFile = r.string(k, 'jwtFile', [...at, 'kubernetes'], ABS_PATH, 'an absolute path', false) ?? SA_TOKEN_FILE;
  return role === undefined ? undefined : { kind: 'kubernetes', role, mount: trimSlashes(mount), jwtFile };
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}
