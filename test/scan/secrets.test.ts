import { describe, expect, it } from 'vitest';
import { secretDetector } from '../../src/scan/secrets.js';
import { fake, found } from './fixtures.js';

const secrets = (text: string) => found(secretDetector, text);

describe('secrets: API keys', () => {
  it.each([
    ['OPENAI_API_KEY', fake.openai],
    ['OPENAI_API_KEY', fake.openaiLegacy],
    ['ANTHROPIC_API_KEY', fake.anthropic],
    ['AWS_ACCESS_KEY', fake.aws],
    ['AWS_ACCESS_KEY', fake.awsSession],
    ['GITHUB_TOKEN', fake.github],
    ['GITHUB_TOKEN', fake.githubPat],
    ['SLACK_TOKEN', fake.slack],
    ['STRIPE_KEY', fake.stripe],
    ['STRIPE_KEY', fake.stripeTest],
    ['GOOGLE_API_KEY', fake.google],
  ])('%s %s', (type, key) => {
    expect(secrets(key)).toEqual([[type, key]]);
    expect(secrets(`KEY=${key}\n`)).toEqual([[type, key]]);
    expect(secrets(`{"key":"${key}"}`)).toEqual([[type, key]]);
  });

  it.each([
    ['glued to a word', `x${fake.aws}`],
    ['followed by a token char', `${fake.aws}1`],
    ['followed by a dash', `${fake.aws}-x`],
    ['AWS key one short', fake.aws.slice(0, -1)],
    ['AWS key lower case', fake.aws.toLowerCase()],
    ['OpenAI key too short', 'sk-' + 'a1'.repeat(9) + 'a'],
    ['OpenAI-like word without digits', 'sk-learn-is-a-python-package-name'],
    ['Anthropic prefix too short', 'sk-ant-' + 'a1'.repeat(5)],
    ['GitHub token one short', fake.github.slice(0, -1)],
    ['GitHub token one long', fake.github + 'A'],
    ['GitHub PAT one short', fake.githubPat.slice(0, -1)],
    ['Slack token too short', 'xoxb-12345'],
    ['Stripe publishable key', 'pk_' + 'live_' + 'FAKEfake0000'.repeat(2)],
    ['Stripe key too short', 'sk_' + 'live_' + 'FAKE0'.repeat(4)],
    ['Google key one short', fake.google.slice(0, -1)],
  ])('no match: %s', (_why, text) => {
    expect(secrets(text)).toEqual([]);
  });

  it('tells Anthropic keys from OpenAI keys', () => {
    expect(secrets(`${fake.anthropic} ${fake.openai}`)).toEqual([
      ['ANTHROPIC_API_KEY', fake.anthropic],
      ['OPENAI_API_KEY', fake.openai],
    ]);
  });
});

describe('secrets: JWT', () => {
  it('matches three base64url segments starting with eyJ', () => {
    expect(secrets(`token=${fake.jwt}; path=/`)).toEqual([['JWT', fake.jwt]]);
    expect(secrets(`${fake.jwt}.`)).toEqual([['JWT', fake.jwt]]);
  });

  it.each([
    ['two segments', fake.jwt.split('.').slice(0, 2).join('.')],
    ['short signature', fake.jwt.split('.').slice(0, 2).join('.') + '.abc'],
    ['short header', 'eyJhbGci.eyJzdWIiOiJmYWtlIn0.ZmFrZS1zaWduYXR1cmU'],
    ['not a JSON header', fake.jwt.replace('eyJ', 'xyJ')],
    ['glued to a word', `x${fake.jwt}`],
  ])('no match: %s', (_why, text) => {
    expect(secrets(text)).toEqual([]);
  });
});

describe('secrets: BEARER_TOKEN', () => {
  it('matches the token after Bearer, whatever the case', () => {
    const token = 'FAKE0token0value0abc+/def==';
    expect(secrets(`Authorization: Bearer ${token}\r\n`)).toEqual([['BEARER_TOKEN', token]]);
    expect(secrets(`authorization: bearer\t${token}.`)).toEqual([['BEARER_TOKEN', token]]);
  });

  it.each([
    ['prose', 'the bearer of this letter is a friend'],
    ['short token', 'Bearer FAKE0token'],
    ['no digit', 'Bearer abcdefghijklmnopqrstuvwxyz'],
    ['glued keyword', 'xBearer FAKE0token0value0abcdef'],
    ['characters after the padding', 'Bearer FAKE0token0value0abc==def'],
  ])('no match: %s', (_why, text) => {
    expect(secrets(text)).toEqual([]);
  });
});

describe('secrets: PRIVATE_KEY', () => {
  it.each(['RSA ', 'EC ', 'OPENSSH ', 'ENCRYPTED ', ''])('a whole %sblock', (label) => {
    const block = fake.pem(label);
    expect(secrets(`key:\n${block}\nrest`)).toEqual([['PRIVATE_KEY', block]]);
  });

  it('matches escaped blocks inside JSON text', () => {
    const block = JSON.stringify(fake.pem('RSA ')).slice(1, -1);
    expect(secrets(`{"k":"${block}"}`)).toEqual([['PRIVATE_KEY', block]]);
  });

  it.each([
    ['BEGIN without END', fake.pem('RSA ').split('\n-----END')[0] ?? ''],
    ['mismatched labels', fake.pem('RSA ').replace('END RSA', 'END EC')],
    ['a certificate', fake.pem('RSA ').replaceAll('RSA PRIVATE KEY', 'CERTIFICATE')],
  ])('no match: %s', (_why, text) => {
    expect(secrets(text)).toEqual([]);
  });

  it('finds consecutive blocks', () => {
    const a = fake.pem('RSA ');
    const b = fake.pem('EC ');
    expect(secrets(`${a}\n${b}`)).toEqual([
      ['PRIVATE_KEY', a],
      ['PRIVATE_KEY', b],
    ]);
  });
});
