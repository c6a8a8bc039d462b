// Adversarial inputs of 1 MB for every detector. Nothing here measures time: a detector that
// went quadratic on any of them would take minutes and trip vitest's per-test timeout.
import { describe, expect, it } from 'vitest';
import { injectionDetector, piiDetector, redactPayload, secretDetector } from '../../src/scan/index.js';
import type { DataClass } from '../../src/scan/index.js';

const MB = 1 << 20;
const ALL: ReadonlySet<DataClass> = new Set(['pii', 'secret', 'injection']);

const fill = (unit: string): string => unit.repeat(Math.ceil(MB / unit.length));

const inputs: Record<string, string> = {
  'word characters': fill('a'),
  digits: fill('1'),
  'at signs': fill('@'),
  dots: fill('.'),
  spaces: fill(' '),
  'a@ pairs': fill('a@'),
  'a. pairs': fill('a.'),
  'almost-emails': fill('a.b@c.d'),
  'domain fragments': fill('a@b.'),
  'letters then @': 'a'.repeat(MB) + '@',
  '@ then letters': '@' + 'a'.repeat(MB),
  'label run': 'bob@' + fill('a-'),
  'spaced digits': fill('1 '),
  'dashed digits': fill('1-'),
  'card groups': fill('4111 '),
  'dashed card groups': fill('4111-'),
  'SSN prefixes': fill('123-45-'),
  'phone prefixes': fill('+1 4'),
  pluses: fill('+1'),
  parens: fill('(415'),
  'ignore repeated': fill('ignore '),
  'ignore all the repeated': fill('ignore all the '),
  'ignore then whitespace': 'ignore all' + ' '.repeat(MB) + 'x',
  'you are now repeated': fill('you are now '),
  'hashes': fill('#'),
  '### system repeated': fill('### system '),
  '### system then spaces': '### system' + ' '.repeat(MB) + 'x',
  'im_start repeated': fill('<|im_start|>'),
  eyJ: fill('eyJ'),
  'JWT-like segments': fill('eyJhbGciOiJ.'),
  'sk- repeated': fill('sk-'),
  'sk- then letters': 'sk-' + 'a'.repeat(MB),
  'Bearer repeated': fill('Bearer '),
  'Bearer then whitespace': 'bearer' + ' '.repeat(MB) + 'x',
  'Bearer then a long run': 'Bearer ' + 'a'.repeat(MB),
  'BEGIN without END': fill('-----BEGIN RSA PRIVATE KEY-----\n'),
  'BEGIN prefixes': fill('-----BEGIN '),
  'BEGIN with a long label': '-----BEGIN ' + 'A'.repeat(MB),
  'END repeated': '-----BEGIN RSA PRIVATE KEY-----' + fill('-----END '),
  'JSON-looking text': fill('{"a":"'),
  backslashes: '["' + fill('\\n') + '"]',
};

describe('detectors stay linear on 1 MB adversarial input', () => {
  it.each(Object.entries(inputs))('%s', (_name, text) => {
    for (const detector of [piiDetector, secretDetector, injectionDetector]) {
      expect(Array.isArray(detector.scan(text))).toBe(true);
    }
    expect(typeof redactPayload(text, ALL).value).toBe('string');
  });

  it('a large JSON document with many findings', () => {
    const doc = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ i, e: `user${i}@example.com` })));
    const { value, redactions } = redactPayload(doc, ALL);
    expect(redactions).toBe(20_000);
    expect(JSON.parse(value)).toHaveLength(20_000);
  });
});
