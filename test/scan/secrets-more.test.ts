import { describe, expect, it } from 'vitest';
import { classifyPayload, redactPayload, scanPayload } from '../../src/scan/index.js';
import { secretDetector } from '../../src/scan/secrets.js';
import { fake, found } from './fixtures.js';

const secrets = (text: string) => found(secretDetector, text);

describe('secrets: more provider formats', () => {
  it.each([
    ['GITLAB_TOKEN', fake.gitlab],
    ['NPM_TOKEN', fake.npm],
    ['AZURE_CLIENT_SECRET', fake.azureSecret],
    ['SLACK_WEBHOOK', fake.slackWebhook],
    ['GCP_ACCESS_TOKEN', 'ya29.' + 'FAKE_fake-0'.repeat(4)],
    ['GCP_OAUTH_SECRET', 'GOCSPX-' + 'FAKEfake0123456789FAKEfake01'],
    ['HUGGINGFACE_TOKEN', 'hf_' + 'FAKEfakeFAKEfake'.repeat(2) + 'ab'],
    ['SENDGRID_KEY', ['SG', 'FAKEfake0123456789FAKE', 'FAKEfake0123456789FAKEfake0123456789FAKEfak'].join('.')],
    ['STRIPE_KEY', 'whsec_' + 'FAKEfake0000'.repeat(2)],
  ])('%s', (type, key) => {
    expect(secrets(` ${key} `)).toEqual([[type, key]]);
  });

  it('finds Azure storage keys and SAS signatures by their place in connection strings and URLs', () => {
    expect(secrets(`AccountName=x;AccountKey=${fake.azureKey};EndpointSuffix=core.windows.net`)).toEqual([['AZURE_STORAGE_KEY', fake.azureKey]]);
    const sig = 'FAKEfake0123456789FAKEfake0123456789FAKE%3D';
    expect(secrets(`https://a.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&sig=${sig}`)).toEqual([['AZURE_SAS_TOKEN', sig]]);
    expect(secrets(`https://example.com/?sig=${sig}`)).toEqual([]);
  });

  it('finds the password in URL credentials, not placeholders', () => {
    expect(secrets('postgres://app:Zq8vN3xL2pR7@db:5432/app')).toEqual([['URL_CREDENTIALS', 'Zq8vN3xL2pR7']]);
    expect(secrets('postgres://user:password@localhost/db')).toEqual([]);
    expect(secrets('https://user:${DB_PASS}@host/')).toEqual([]);
  });
});

describe('secrets: values of credential-named keys', () => {
  it.each([
    ['client_secret: 9fJ2kQ7xLm3pZ8vR4tW6yB1nC5dH0sE', '9fJ2kQ7xLm3pZ8vR4tW6yB1nC5dH0sE'],
    ['"api_key": "a8f5f167f44f4964e6c998dee827110c"', 'a8f5f167f44f4964e6c998dee827110c'],
    ['DB_PASSWORD=Tr0ub4dor&3xq', 'Tr0ub4dor&3xq'],
    ['X-Api-Key: Zk3nQ8rT2vW7yB4mC9dF', 'Zk3nQ8rT2vW7yB4mC9dF'],
  ])('%s', (text, value) => {
    expect(secrets(text).map(([, v]) => v)).toEqual([value]);
  });

  it('finds the AWS secret access key by name and shape', () => {
    expect(secrets(`aws_secret_access_key = ${fake.awsSecret}`)).toEqual([['AWS_SECRET_KEY', fake.awsSecret]]);
  });

  it.each([
    'api_key: <your-api-key>',
    'password: changeme',
    'token = process.env.GITHUB_TOKEN',
    'secret: "xxxxxxxxxxxxxxxx"',
    'max_tokens: 4096',
    'monkey: Zk3nQ8rT2vW7yB4mC9dF',
    'token: aaaaaaaaaaaaaaaaaaaa',
    'password: hunter',
  ])('no match: %s', (text) => {
    expect(secrets(text)).toEqual([]);
  });

  it('judges string leaves under credential-named object keys, in payloads and in JSON text', () => {
    const payload = { user: 'app', password: 'Tr0ub4dor&3xq', note: 'Tr0ub4dor&3xq' };
    expect(classifyPayload(payload)).toEqual(new Set(['secret']));
    expect(redactPayload(payload, new Set(['secret'])).value).toEqual({ user: 'app', password: '[REDACTED:GENERIC_SECRET]', note: 'Tr0ub4dor&3xq' });
    const text = JSON.stringify({ client_secret: '9fJ2kQ7xLm3pZ8vR4tW6yB1nC5dH0sE', id: 'web' });
    expect(JSON.parse(redactPayload(text, new Set(['secret'])).value)).toEqual({ client_secret: '[REDACTED:GENERIC_SECRET]', id: 'web' });
  });
});

describe('scanPayload and per-type redaction', () => {
  const payload = { to: ['bob@example.com'], body: { text: `key ${fake.aws}, call 415-555-2671` }, n: 4111111111111111 };

  it('reports every finding with its JSON pointer, type, rule, score and span', () => {
    expect(scanPayload(payload).map((f) => [f.path, f.type, f.rule])).toEqual([
      ['/to/0', 'EMAIL', 'pii.email'],
      ['/body/text', 'AWS_ACCESS_KEY', 'secret.aws-access-key'],
      ['/body/text', 'PHONE', 'pii.phone.nanp'],
      ['/n', 'CARD', 'pii.card'],
    ]);
    const [aws] = scanPayload(payload, new Set(['secret']));
    expect(payload.body.text.slice(aws!.start, aws!.end)).toBe(fake.aws);
  });

  it('redacts only the finding types asked for', () => {
    const { value, types } = redactPayload(payload, new Set(['pii', 'secret']), { types: new Set(['PHONE']) });
    expect(types).toEqual(['PHONE']);
    expect(value).toEqual({ ...payload, body: { text: `key ${fake.aws}, call [REDACTED:PHONE]` } });
  });
});
