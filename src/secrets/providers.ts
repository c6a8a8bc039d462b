import { existsSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { JochError } from '../errors.js';
import { httpCall } from './http.js';
import { SA_CA_FILE, SecretCodes, type SecretDefinition, type SecretSource, type VaultAuth } from './resource.js';
import { signRequest, type AwsCredentials } from './sigv4.js';

/** Fetches the current value of one Secret from where it lives. */
export interface SecretProvider {
  fetch(): Promise<string>;
  /** For sources that can say when they change (files): calls `onChange`; returns a stop function. */
  watch?(onChange: () => void): () => void;
}

export interface ProviderEnv {
  /** Environment variables (process.env by default). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now: () => number;
  /**
   * Credentials a provider uses (Vault tokens, service-account tokens, AWS keys) are secrets
   * too: they go to the redactor and the exfiltration guard like the values themselves.
   */
  readonly remember: (credential: string) => void;
}

const unavailable = (name: string, why: string): JochError => new JochError(SecretCodes.unavailable, `secret "${name}": ${why}`);

/** Values go into HTTP headers: a line break or NUL could smuggle another header. */
function usable(name: string, value: string): string {
  if (value === '') throw unavailable(name, 'the value is empty');
  if (/[\r\n\0]/.test(value)) throw unavailable(name, 'the value contains a line break or NUL and cannot be sent in a header');
  return value;
}

export function createProvider(def: SecretDefinition, penv: ProviderEnv): SecretProvider {
  const s = def.source;
  switch (s.kind) {
    case 'env':
      return {
        fetch: async () => {
          const v = penv.env[s.name];
          if (v === undefined) throw unavailable(def.name, `environment variable ${s.name} is not set`);
          return usable(def.name, v);
        },
      };
    case 'file':
      return fileProvider(def.name, s.path);
    case 'vault':
      return vaultProvider(def.name, s, penv);
    case 'kubernetes':
      return kubernetesProvider(def.name, s, penv);
    case 'aws':
      return awsProvider(def.name, s, penv);
  }
}

/** One trailing newline is dropped: files written by editors and `echo` end with one. */
function fileProvider(name: string, path: string): SecretProvider {
  return {
    fetch: async () => {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        throw unavailable(name, `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      return usable(name, text.replace(/\r?\n$/, ''));
    },
    // Mounted Kubernetes secrets and editors replace files by renaming, so watch the folder.
    watch: (onChange) => {
      let watcher: FSWatcher | undefined;
      try {
        watcher = watch(dirname(path), (_event, file) => {
          if (file === null || file === basename(path) || file.startsWith('..')) onChange();
        });
        watcher.on('error', () => onChange());
      } catch {
        // No folder to watch: the TTL still refreshes the value.
      }
      return () => watcher?.close();
    },
  };
}

function readRef(name: string, file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw unavailable(name, `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function caOf(file: string | undefined): string | undefined {
  return file !== undefined && existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** Vault's error answers are `{"errors": [...]}`; they describe the failure, never the secret. */
function vaultErrors(body: string): string {
  try {
    const errors = (JSON.parse(body) as { errors?: unknown }).errors;
    return Array.isArray(errors) && errors.length > 0 ? `: ${errors.map(String).join('; ').slice(0, 200)}` : '';
  } catch {
    return '';
  }
}

type VaultSource = Extract<SecretSource, { kind: 'vault' }>;

/**
 * Vault KV v2: GET /v1/<mount>/data/<path> with X-Vault-Token; the value is
 * `data.data[field]`. Tokens come from an env var or file, or from a Kubernetes auth login
 * (POST /v1/auth/<mount>/login {role, jwt}), kept until 80 % of their lease and renewed by
 * logging in again (also once on a 403).
 */
function vaultProvider(name: string, s: VaultSource, penv: ProviderEnv): SecretProvider {
  let login: { token: string; until: number } | undefined;
  const ca = caOf(s.caFile);
  const token = async (fresh: boolean): Promise<string> => {
    const auth: VaultAuth = s.auth;
    if (auth.kind === 'token') {
      if (auth.env !== undefined) {
        const t = penv.env[auth.env];
        if (!t) throw unavailable(name, `environment variable ${auth.env} (the Vault token) is not set`);
        penv.remember(t);
        return t;
      }
      const t = readRef(name, auth.file as string, 'Vault token file');
      penv.remember(t);
      return t;
    }
    if (!fresh && login !== undefined && penv.now() < login.until) return login.token;
    const jwt = readRef(name, auth.jwtFile, 'service-account token');
    penv.remember(jwt);
    const res = await httpCall({ method: 'POST', url: `${s.address}/v1/auth/${auth.mount}/login`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: auth.role, jwt }), ...(ca ? { ca } : {}) });
    if (res.status !== 200) throw unavailable(name, `Vault Kubernetes login for role ${auth.role} answered ${res.status}${vaultErrors(res.body)}`);
    const parsed = parseJson(name, res.body, 'Vault login') as { auth?: { client_token?: unknown; lease_duration?: unknown } };
    const clientToken = parsed.auth?.client_token;
    if (typeof clientToken !== 'string' || clientToken === '') throw unavailable(name, 'the Vault login answer has no auth.client_token');
    const lease = typeof parsed.auth?.lease_duration === 'number' ? parsed.auth.lease_duration : 0;
    penv.remember(clientToken);
    login = { token: clientToken, until: penv.now() + (lease > 0 ? lease * 800 : 60_000) };
    return clientToken;
  };
  const read = async (fresh: boolean) => httpCall({ method: 'GET', url: `${s.address}/v1/${s.mount}/data/${s.path}`, headers: { 'x-vault-token': await token(fresh), accept: 'application/json' }, ...(ca ? { ca } : {}) });
  return {
    fetch: async () => {
      let res = await read(false);
      if (res.status === 403 && s.auth.kind === 'kubernetes') res = await read(true);
      if (res.status === 404) throw unavailable(name, `Vault has no secret at ${s.mount}/${s.path}`);
      if (res.status !== 200) throw unavailable(name, `Vault answered ${res.status} for ${s.mount}/${s.path}${vaultErrors(res.body)}`);
      const data = (parseJson(name, res.body, 'Vault') as { data?: { data?: Record<string, unknown> } }).data?.data;
      const v = data?.[s.field];
      if (typeof v !== 'string') throw unavailable(name, `Vault secret ${s.mount}/${s.path} has no string field "${s.field}"`);
      return usable(name, v);
    },
  };
}

type KubernetesSource = Extract<SecretSource, { kind: 'kubernetes' }>;

/**
 * The Kubernetes Secrets API: GET /api/v1/namespaces/<ns>/secrets/<name> with the pod's
 * service-account token (re-read every time: projected tokens rotate); the value is
 * base64-decoded `data[key]`.
 */
function kubernetesProvider(name: string, s: KubernetesSource, penv: ProviderEnv): SecretProvider {
  const ca = caOf(s.caFile ?? SA_CA_FILE);
  return {
    fetch: async () => {
      const host = penv.env.KUBERNETES_SERVICE_HOST;
      const api = s.apiServer ?? (host ? `https://${host.includes(':') ? `[${host}]` : host}:${penv.env.KUBERNETES_SERVICE_PORT ?? '443'}` : undefined);
      if (api === undefined) throw unavailable(name, 'no apiServer given and KUBERNETES_SERVICE_HOST is not set');
      const bearer = readRef(name, s.tokenFile, 'service-account token');
      penv.remember(bearer);
      const res = await httpCall({ method: 'GET', url: `${api}/api/v1/namespaces/${s.namespace}/secrets/${s.name}`, headers: { authorization: `Bearer ${bearer}`, accept: 'application/json' }, ...(ca ? { ca } : {}) });
      if (res.status === 404) throw unavailable(name, `Kubernetes has no Secret ${s.namespace}/${s.name}`);
      if (res.status !== 200) throw unavailable(name, `the Kubernetes API answered ${res.status} for Secret ${s.namespace}/${s.name}`);
      const data = (parseJson(name, res.body, 'Kubernetes') as { data?: Record<string, unknown> }).data;
      const v = data?.[s.key];
      if (typeof v !== 'string') throw unavailable(name, `Kubernetes Secret ${s.namespace}/${s.name} has no key "${s.key}"`);
      return usable(name, Buffer.from(v, 'base64').toString('utf8'));
    },
  };
}

type AwsSource = Extract<SecretSource, { kind: 'aws' }>;

/**
 * AWS Secrets Manager GetSecretValue over its JSON protocol (POST, X-Amz-Target
 * secretsmanager.GetSecretValue, application/x-amz-json-1.1), SigV4-signed with the
 * credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. With `field`,
 * SecretString is a JSON object and the value is that field.
 */
function awsProvider(name: string, s: AwsSource, penv: ProviderEnv): SecretProvider {
  const endpoint = s.endpoint ?? `https://secretsmanager.${s.region}.amazonaws.com`;
  return {
    fetch: async () => {
      const credentials = awsCredentials(name, penv.env);
      penv.remember(credentials.secretAccessKey);
      if (credentials.sessionToken) penv.remember(credentials.sessionToken);
      const body = JSON.stringify({ SecretId: s.arn, ...(s.versionStage ? { VersionStage: s.versionStage } : {}) });
      const url = new URL(`${endpoint}/`);
      const headers = signRequest({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue' },
        body,
        region: s.region,
        service: 'secretsmanager',
        credentials,
        now: new Date(penv.now()),
      });
      const res = await httpCall({ method: 'POST', url: url.toString(), headers, body });
      if (res.status !== 200) {
        let type = '';
        try {
          type = String((JSON.parse(res.body) as { __type?: unknown }).__type ?? '').replace(/^.*#/, '');
        } catch {
          // not JSON: the status says enough
        }
        throw unavailable(name, `Secrets Manager answered ${res.status}${type ? ` (${type})` : ''} for ${s.arn}`);
      }
      const str = (parseJson(name, res.body, 'Secrets Manager') as { SecretString?: unknown }).SecretString;
      if (typeof str !== 'string') throw unavailable(name, `${s.arn} has no SecretString (binary secrets are not supported)`);
      if (s.field === undefined) return usable(name, str);
      let obj: unknown;
      try {
        obj = JSON.parse(str);
      } catch {
        throw unavailable(name, `${s.arn} is not a JSON object, so it has no field "${s.field}"`);
      }
      const v = (obj as Record<string, unknown> | null)?.[s.field];
      if (typeof v !== 'string') throw unavailable(name, `${s.arn} has no string field "${s.field}"`);
      return usable(name, v);
    },
  };
}

function awsCredentials(name: string, env: Readonly<Record<string, string | undefined>>): AwsCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw unavailable(name, 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to sign Secrets Manager requests');
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

/** Never quotes the text: it is a provider's answer and may hold the secret. */
function parseJson(name: string, text: string, from: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw unavailable(name, `${from} answered with text that is not JSON`);
  }
}
