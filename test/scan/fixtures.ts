// Obviously fake sample values. Secret-shaped ones are assembled at run time so the
// literals in this file do not themselves look like leaked credentials to repo scanners.
import type { Detector } from '../../src/scan/types.js';

export const fake = {
  openai: ['sk', 'proj', 'FAKEfake0123456789FAKEfake'].join('-'),
  openaiLegacy: 'sk-' + 'FAKE0'.repeat(8),
  anthropic: ['sk', 'ant', 'api03', 'FAKEfake0123456789FAKE'].join('-'),
  aws: 'AKIA' + 'IOSFODNN7EXAMPLE',
  awsSession: 'ASIA' + 'IOSFODNN7EXAMPLE',
  github: 'ghp_' + 'FAKE0fake1'.repeat(3) + 'FAKE00',
  githubPat: 'github_pat_' + 'FAKE_fake0'.repeat(8) + '00',
  slack: ['xoxb', '000000000000', '0000000000000', 'FAKEfakeFAKEfake'].join('-'),
  stripe: 'sk_' + 'live_' + 'FAKEfake0000'.repeat(2),
  stripeTest: 'sk_' + 'test_' + 'FAKEfake0000'.repeat(2),
  google: 'AIza' + 'FAKE_fake-0'.repeat(3) + '00',
  // {"alg":"HS256"} . {"sub":"fake"} . "fake-signature"
  jwt: ['eyJhbGciOiJIUzI1NiJ9', 'eyJzdWIiOiJmYWtlIn0', 'ZmFrZS1zaWduYXR1cmU'].join('.'),
  awsSecret: 'FAKEfake0123456789/FAKE' + '+fake0123456789AB',
  gitlab: 'glpat-' + 'FAKEfake0123456789ab',
  slackWebhook: 'https://hooks.slack.com/services/' + ['T00000000', 'B00000000', 'FAKEfakeFAKEfakeFAKEfake'].join('/'),
  azureKey: 'FAKEfake0123456789+/'.repeat(4) + 'FAKEfa' + '==',
  azureSecret: 'abc' + '8Q~' + 'FAKEfake0123456789FAKEfake01234',
  npm: 'npm_' + 'FAKEfake0123456789'.repeat(2),
  pem: (label: string, body = 'FAKEFAKEFAKEFAKE\nFAKEFAKE==') =>
    ['-----BEGIN ', label, 'PRIVATE KEY-----\n', body, '\n-----END ', label, 'PRIVATE KEY-----'].join(''),
};

/** [type, exact matched text] for each finding, in order of start. */
export function found(detector: Detector, text: string): [string, string][] {
  return detector
    .scan(text)
    .sort((a, b) => a.start - b.start)
    .map((f) => [f.type, text.slice(f.start, f.end)]);
}
