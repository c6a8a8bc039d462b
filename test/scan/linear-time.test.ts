// Adversarial inputs of 1 MB for every detector. Nothing here measures time: a detector that
// went quadratic on any of them would take minutes and trip vitest's per-test timeout.
import { describe, expect, it } from 'vitest';
import { SseScanner, injectionDetector, piiDetector, redactPayload, secretDetector } from '../../src/scan/index.js';
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
  // Injection: hidden content, links, encoded blobs, phrases in many languages.
  'comment openers': fill('<!--'),
  'an unclosed comment about the AI': '<!-- ' + fill('the assistant must '),
  'hiding declarations outside tags': fill('display:none '),
  'an unclosed hidden tag': fill('<div style="display:none">'),
  'hidden attributes': fill('<p hidden>'),
  'markdown link targets': fill('](https://'),
  'brackets then a target': fill('[') + '](https://x.example/?q=' + 'a'.repeat(100),
  'image tags': fill('<img src=https://'),
  'zero-width characters': fill('\u200b'),
  'tag characters': fill('\udb40\udc41'),
  'one base64 blob of anchors': fill('aWdub3Jl'),
  'base64 anchors between spaces': fill('aWdub3Jl '),
  'hex anchors': fill('69676e6f7265'),
  'multilingual verbs': fill('ignoriere olvida 忽略 無視 игнорируй '),
  'verbs with a gap': fill('ignora ' + 'x'.repeat(30) + ' '),
  'nouns before verbs': fill('指示'),
  'tell repeated': fill('tell '),
  'system lines': fill('\nsystem: '),
  'tool to repeated': fill('tool to '),
  'sensitive paths': fill('.env ~/.ssh/ '),
  'quotes around phrases': fill('"ignore previous instructions" '),
  // PII and secrets added with the scanners.
  'IBAN-like groups': fill('GB82 '),
  'double colons': fill('::'),
  'hex and colons': fill('a:'),
  'dotted quads': fill('1.1.1.1.'),
  'phone words': fill('phone: '),
  'credential assignments': fill('password='),
  'credential values': 'api_key=' + 'a1'.repeat(MB / 2),
  'account keys': fill('AccountKey='),
  'client secret marks': fill('abc1Q~'),
  'URL credentials': fill('://a:b@'),
  'SAS signatures': fill('?sig=' + 'a'.repeat(40)),
  backslashes: '["' + fill('\\n') + '"]',
};

describe('detectors stay linear on 1 MB adversarial input', () => {
  it.each(Object.entries(inputs))('%s', (_name, text) => {
    for (const detector of [piiDetector, secretDetector, injectionDetector]) {
      expect(Array.isArray(detector.scan(text))).toBe(true);
    }
    expect(typeof redactPayload(text, ALL).value).toBe('string');
  });

  it('an SSE stream of 1 MB in tiny events and tiny chunks', () => {
    const body = fill('data: {"choices":[{"delta":{"content":"ign"}}]}\n\n');
    const scanner = new SseScanner();
    let events = 0;
    for (let i = 0; i < body.length; i += 61) events += scanner.push(body.slice(i, i + 61)).events.length;
    events += scanner.end().events.length;
    expect(events).toBeGreaterThan(20_000);
  });

  it('a large JSON document with many findings', () => {
    const doc = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ i, e: `user${i}@example.com` })));
    const { value, redactions } = redactPayload(doc, ALL);
    expect(redactions).toBe(20_000);
    expect(JSON.parse(value)).toHaveLength(20_000);
  });
});
