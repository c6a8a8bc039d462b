import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBroker } from '../../src/secrets/broker.js';
import { KnownSecrets } from '../../src/secrets/known.js';
import { createProvider } from '../../src/secrets/providers.js';
import type { SecretDefinition, SecretSource } from '../../src/secrets/resource.js';
import { signingKey, signRequest } from '../../src/secrets/sigv4.js';
import { startKubeApi, startSecretsManager, startVault, type AwsServer, type KubeServer, type VaultServer } from './servers.js';

const dir = mkdtempSync(join(tmpdir(), 'joch-secrets-'));
const saToken = join(dir, 'sa-token');
writeFileSync(saToken, 'eyJhbGciOiJSUzI1NiJ9.service-account.jwt\n');
const def = (source: SecretSource, name = 'k'): SecretDefinition => ({ name, namespace: undefined, source, ttlMs: 60_000, maxStaleMs: 60_000, file: 'x.yaml', line: 1 });
const provider = (source: SecretSource, env: Record<string, string> = {}) => createProvider(def(source), { env, now: Date.now, remember: () => undefined });

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('env and file references', () => {
  it('reads an environment variable, and fails (naming the variable, not a value) when unset', async () => {
    expect(await provider({ kind: 'env', name: 'OPENAI_KEY' }, { OPENAI_KEY: 'sk-env-value-1' }).fetch()).toBe('sk-env-value-1');
    await expect(provider({ kind: 'env', name: 'OPENAI_KEY' }).fetch()).rejects.toMatchObject({ code: 'JOCH_SECRET_UNAVAILABLE', message: 'secret "k": environment variable OPENAI_KEY is not set' });
  });

  it('refuses values that could split a header', async () => {
    await expect(provider({ kind: 'env', name: 'V' }, { V: 'abc\r\nx-evil: 1' }).fetch()).rejects.toThrow(/line break/);
  });

  it('reads a file (dropping one trailing newline) and re-reads it when it is replaced', async () => {
    const file = join(dir, 'api-key');
    writeFileSync(file, 'file-value-1\n');
    const broker = new SecretBroker([def({ kind: 'file', path: file }, 'file-key')], { known: new KnownSecrets() });
    expect(await broker.resolve('file-key')).toBe('file-value-1');
    // Kubernetes secret volumes and editors replace the file by renaming a new one over it.
    writeFileSync(join(dir, 'api-key.tmp'), 'file-value-2\n');
    renameSync(join(dir, 'api-key.tmp'), file);
    await expect.poll(() => broker.peek('file-key'), { timeout: 5000 }).toBe('file-value-2');
    await broker.close();
  });
});

describe('Vault KV v2', () => {
  let vault: VaultServer;
  beforeAll(async () => {
    vault = await startVault({ serviceAccountJwt: 'eyJhbGciOiJSUzI1NiJ9.service-account.jwt', role: 'joch' });
    vault.tokens.add('hvs.static-token');
    vault.secrets.set('providers/openai', { api_key: 'sk-vault-value-1', other: 'x' });
  });
  afterAll(() => vault.close());
  const source = (auth: Extract<SecretSource, { kind: 'vault' }>['auth'], path = 'providers/openai'): SecretSource => ({ kind: 'vault', address: vault.url, mount: 'secret', path, field: 'api_key', auth });

  it('reads a field with token auth (token from an env var)', async () => {
    expect(await provider(source({ kind: 'token', env: 'VAULT_TOKEN' }), { VAULT_TOKEN: 'hvs.static-token' }).fetch()).toBe('sk-vault-value-1');
  });

  it('logs in with the Kubernetes auth method, reuses the token, and logs in again on a 403', async () => {
    const p = provider(source({ kind: 'kubernetes', role: 'joch', mount: 'kubernetes', jwtFile: saToken }));
    const logins = vault.logins;
    expect(await p.fetch()).toBe('sk-vault-value-1');
    expect(await p.fetch()).toBe('sk-vault-value-1');
    expect(vault.logins).toBe(logins + 1);
    vault.tokens.clear(); // Vault revoked the token
    expect(await p.fetch()).toBe('sk-vault-value-1');
    expect(vault.logins).toBe(logins + 2);
  });

  it('treats the credentials it uses (service-account token, Vault token) as secrets too', async () => {
    const known = new KnownSecrets();
    const broker = new SecretBroker([def(source({ kind: 'kubernetes', role: 'joch', mount: 'kubernetes', jwtFile: saToken }), 'vault-key')], { known });
    expect(await broker.resolve('vault-key')).toBe('sk-vault-value-1');
    expect(known.foundIn(`x-vault-token: hvs.login-${vault.logins}`)).toBe(true);
    expect(known.foundIn('jwt=eyJhbGciOiJSUzI1NiJ9.service-account.jwt')).toBe(true);
    expect(known.foundIn('sk-vault-value-1')).toBe(true);
    await broker.close();
  });

  it('explains failures without the answer body: bad token, missing path, missing field, wrong role', async () => {
    vault.tokens.add('hvs.static-token');
    await expect(provider(source({ kind: 'token', env: 'T' }), { T: 'hvs.wrong' }).fetch()).rejects.toThrow('secret "k": Vault answered 403 for secret/providers/openai: permission denied');
    await expect(provider(source({ kind: 'token', env: 'T' }, 'nope'), { T: 'hvs.static-token' }).fetch()).rejects.toThrow('Vault has no secret at secret/nope');
    const wrongField: SecretSource = { kind: 'vault', address: vault.url, mount: 'secret', path: 'providers/openai', field: 'missing', auth: { kind: 'token', env: 'T' } };
    const err = await provider(wrongField, { T: 'hvs.static-token' }).fetch().catch((e: Error) => e);
    expect(String(err)).toContain('has no string field "missing"');
    expect(String(err)).not.toContain('sk-vault-value-1');
    await expect(provider(source({ kind: 'kubernetes', role: 'other', mount: 'kubernetes', jwtFile: saToken })).fetch()).rejects.toThrow(/Kubernetes login for role other answered 403/);
  });
});

describe('Kubernetes Secrets API', () => {
  let kube: KubeServer;
  beforeAll(async () => {
    kube = await startKubeApi({ token: 'eyJhbGciOiJSUzI1NiJ9.service-account.jwt' });
    kube.secrets.set('agents/provider-keys', { openai: 'sk-kube-value-1' });
  });
  afterAll(() => kube.close());

  it('reads and base64-decodes data[key] with the service-account token', async () => {
    expect(await provider({ kind: 'kubernetes', namespace: 'agents', name: 'provider-keys', key: 'openai', apiServer: kube.url, tokenFile: saToken }).fetch()).toBe('sk-kube-value-1');
  });

  it('finds the API server from KUBERNETES_SERVICE_HOST/PORT when none is given', async () => {
    const port = new URL(kube.url).port;
    // The in-cluster default is https; this loopback server speaks http, so the TLS handshake fails, which proves the address was used.
    await expect(provider({ kind: 'kubernetes', namespace: 'agents', name: 'provider-keys', key: 'openai', tokenFile: saToken }, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port }).fetch()).rejects.toThrow(`https://127.0.0.1:${port}`);
    await expect(provider({ kind: 'kubernetes', namespace: 'agents', name: 'provider-keys', key: 'openai', tokenFile: saToken }).fetch()).rejects.toThrow('KUBERNETES_SERVICE_HOST is not set');
  });

  it('speaks https to an API server whose certificate the configured CA signed, and refuses others', async () => {
    const pems = selfsigned.generate([{ name: 'commonName', value: 'kubernetes' }], { days: 1, keySize: 2048, algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }] });
    const tlsKube = await startKubeApi({ token: 'eyJhbGciOiJSUzI1NiJ9.service-account.jwt', tls: { cert: pems.cert, key: pems.private } });
    tlsKube.secrets.set('agents/provider-keys', { openai: 'sk-kube-tls-1' });
    const caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, pems.cert);
    try {
      expect(tlsKube.url).toMatch(/^https:/);
      expect(await provider({ kind: 'kubernetes', namespace: 'agents', name: 'provider-keys', key: 'openai', apiServer: tlsKube.url, tokenFile: saToken, caFile }).fetch()).toBe('sk-kube-tls-1');
      const other = join(dir, 'other-ca.crt');
      writeFileSync(other, selfsigned.generate([{ name: 'commonName', value: 'x' }], { days: 1, keySize: 2048, algorithm: 'sha256' }).cert);
      await expect(provider({ kind: 'kubernetes', namespace: 'agents', name: 'provider-keys', key: 'openai', apiServer: tlsKube.url, tokenFile: saToken, caFile: other }).fetch()).rejects.toThrow(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    } finally {
      await tlsKube.close();
    }
  });

  it('reports a missing Secret, a missing key and a rejected token', async () => {
    const src = (over: Partial<Extract<SecretSource, { kind: 'kubernetes' }>>): SecretSource => ({ kind: 'kubernetes', namespace: 'agents', name: 'provider-keys', key: 'openai', apiServer: kube.url, tokenFile: saToken, ...over });
    await expect(provider(src({ name: 'nope' })).fetch()).rejects.toThrow('Kubernetes has no Secret agents/nope');
    await expect(provider(src({ key: 'anthropic' })).fetch()).rejects.toThrow('has no key "anthropic"');
    const other = join(dir, 'other-token');
    writeFileSync(other, 'wrong');
    await expect(provider(src({ tokenFile: other })).fetch()).rejects.toThrow('the Kubernetes API answered 401');
  });
});

describe('AWS Secrets Manager (SigV4 verified by the server)', () => {
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/openai-AbCdEf';
  const jsonArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/keys-XyZ';
  const creds = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
  let aws: AwsServer;
  beforeAll(async () => {
    aws = await startSecretsManager({ region: 'eu-west-1', keys: { AKIDEXAMPLE: creds.AWS_SECRET_ACCESS_KEY } });
    aws.secrets.set(arn, 'sk-aws-value-1');
    aws.secrets.set(jsonArn, JSON.stringify({ openai: 'sk-aws-json-1', anthropic: 'x' }));
  });
  afterAll(() => aws.close());

  it('reads SecretString, and a field of a JSON SecretString', async () => {
    expect(await provider({ kind: 'aws', arn, region: 'eu-west-1', endpoint: aws.url }, creds).fetch()).toBe('sk-aws-value-1');
    expect(await provider({ kind: 'aws', arn: jsonArn, region: 'eu-west-1', field: 'openai', endpoint: aws.url }, creds).fetch()).toBe('sk-aws-json-1');
  });

  it('is refused when the signature is wrong, and says so without the secret', async () => {
    const hits = aws.hits;
    await expect(provider({ kind: 'aws', arn, region: 'eu-west-1', endpoint: aws.url }, { ...creds, AWS_SECRET_ACCESS_KEY: 'not-the-key' }).fetch()).rejects.toThrow('Secrets Manager answered 403 (InvalidSignatureException)');
    expect(aws.lastRejection).toBe('signature does not match');
    expect(aws.hits).toBe(hits);
  });

  it('signs the session token too, and needs credentials', async () => {
    expect(await provider({ kind: 'aws', arn, region: 'eu-west-1', endpoint: aws.url }, { ...creds, AWS_SESSION_TOKEN: 'session-token' }).fetch()).toBe('sk-aws-value-1');
    await expect(provider({ kind: 'aws', arn, region: 'eu-west-1', endpoint: aws.url }).fetch()).rejects.toThrow('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set');
    await expect(provider({ kind: 'aws', arn: `${arn}-gone`, region: 'eu-west-1', endpoint: aws.url }, creds).fetch()).rejects.toThrow('(ResourceNotFoundException)');
  });

  it('derives signing keys and signatures as AWS documents them', () => {
    // docs.aws.amazon.com, "Examples of how to derive a signing key for Signature Version 4".
    expect(signingKey('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', '20120215', 'us-east-1', 'iam').toString('hex')).toBe('f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d');
    // The SigV4 test suite's get-vanilla case.
    const headers = signRequest({
      method: 'GET',
      url: new URL('https://example.amazonaws.com/'),
      headers: {},
      body: '',
      region: 'us-east-1',
      service: 'service',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
      now: new Date('2015-08-30T12:36:00Z'),
    });
    expect(headers.authorization).toBe('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  });
});
