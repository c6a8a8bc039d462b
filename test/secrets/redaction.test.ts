import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger, createRedactor, rememberingRedactor } from '../../src/log.js';
import { KnownSecrets, variantsOf } from '../../src/secrets/known.js';

const CANARY = 'canary-Value-0192837465-zyx';

function captured(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = [];
  const log = createLogger({ ...options, level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  return { log, text: () => lines.join('') };
}

describe('the redacting logger', () => {
  it('redacts every resolved secret value wherever it appears, in any spelling', () => {
    const known = new KnownSecrets();
    known.add(CANARY);
    const { log, text } = captured({ known });
    log.info({ header: `Bearer ${CANARY}`, nested: { deep: [CANARY] }, b64: Buffer.from(`u:${CANARY}`).toString('base64'), url: encodeURIComponent(`${CANARY} `) }, `message with ${CANARY}`);
    log.error(new Error(`provider said ${CANARY}`), 'failed');
    const out = text();
    expect(out).not.toContain(CANARY);
    for (const v of variantsOf(CANARY)) expect(out).not.toContain(v);
    expect(out).toContain('[REDACTED:SECRET]');
    // Still one valid JSON record per line.
    for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('the remembering redactor answers as the redactor does, and forgets what it remembered when a secret value is learned', () => {
    const known = new KnownSecrets();
    let calls = 0;
    const plain = createRedactor({ known });
    const redact = rememberingRedactor((t) => (calls++, plain(t)), known);
    const text = `agent-7\napi.example.com\n/v1/items/${CANARY}\n`;
    expect(redact(text)).toBe(text);
    expect(redact(text)).toBe(text);
    expect(calls).toBe(1);
    known.add(CANARY);
    expect(redact(text)).toBe(plain(text));
    expect(redact(text)).not.toContain(CANARY);
    expect(calls).toBe(2);
    const long = `${'x'.repeat(5000)}${CANARY}`;
    expect(redact(long)).toBe(plain(long));
    expect(redact(long)).toBe(plain(long));
    expect(calls).toBe(4); // texts over 4 KiB are not remembered
  });

  it('learns values as they are fetched, without being rebuilt', () => {
    const known = new KnownSecrets();
    const { log, text } = captured({ known });
    log.info(`before ${CANARY}`);
    known.add(CANARY);
    log.info(`after ${CANARY}`);
    expect(text()).toContain(`before ${CANARY}`);
    expect(text()).toContain('after [REDACTED:SECRET]');
  });

  it('redacts secret-shaped strings nobody registered: provider keys, bearer tokens, JWTs, private keys', () => {
    const { log, text } = captured({ known: new KnownSecrets() });
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC0xIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
    log.warn({ key: 'sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345', aws: 'AKIAIOSFODNN7EXAMPLE', jwt, pem }, 'auth: Bearer abcdefghij0123456789klmnop');
    const out = text();
    for (const s of ['sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345', 'AKIAIOSFODNN7EXAMPLE', jwt, 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'abcdefghij0123456789klmnop']) expect(out).not.toContain(s);
    expect(out).toContain('[REDACTED:ANTHROPIC_API_KEY]');
    expect(out).toContain('[REDACTED:AWS_ACCESS_KEY]');
    expect(out).toContain('[REDACTED:JWT]');
    expect(out).toContain('[REDACTED:PRIVATE_KEY]');
    expect(out).toContain('Bearer [REDACTED:BEARER_TOKEN]');
  });

  it('applies the operator patterns of its own environment and of *, not of others', () => {
    const patterns = { '*': [{ name: 'ticket', regex: 'TKT-[0-9]{6}' }], prod: [{ name: 'account', regex: 'ACCT-[0-9]{8}' }], staging: [{ name: 'user', regex: 'USR-[0-9]+' }] };
    const redact = createRedactor({ known: new KnownSecrets(), patterns, environment: 'prod' });
    expect(redact('TKT-123456 ACCT-12345678 USR-42')).toBe('[REDACTED:TICKET] [REDACTED:ACCOUNT] USR-42');
    expect(createRedactor({ known: new KnownSecrets(), patterns })('TKT-123456 ACCT-12345678')).toBe('[REDACTED:TICKET] ACCT-12345678');
  });

  it('refuses invalid patterns at start-up with a clear error', () => {
    expect(() => createRedactor({ patterns: { '*': [{ name: 'bad', regex: '(a' }] } })).toThrow(/redaction pattern "bad" is not a valid RE2 regular expression/);
    expect(() => createRedactor({ patterns: { '*': [{ name: 'back', regex: '(a)\\1' }] } })).toThrow(/redaction pattern "back"/);
  });
});

describe('secret spellings', () => {
  it('finds a value inside larger base64 blobs at every alignment', () => {
    const known = new KnownSecrets();
    known.add(CANARY);
    for (const prefix of ['', 'a', 'ab', 'abc', 'user:']) {
      expect(known.foundIn(Buffer.from(`${prefix}${CANARY}!!`).toString('base64')), prefix).toBe(true);
      expect(known.foundIn(Buffer.from(`${prefix}${CANARY}?`).toString('base64url')), prefix).toBe(true);
    }
    expect(known.foundIn(Buffer.from('unrelated text of some length').toString('base64'))).toBe(false);
  });

  it('finds any of many values in any spelling, and nothing that is not there (property)', () => {
    const known = new KnownSecrets();
    const values = Array.from({ length: 100 }, (_, i) => `tok_${i}_${(i * 7919).toString(36)}QwErTy${i * 31}`);
    for (const v of values) known.add(v);
    const encode = [(v: string) => v, (v: string) => encodeURIComponent(v), (v: string) => Buffer.from(v).toString('base64'), (v: string) => Buffer.from(v).toString('base64url')];
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99 }), fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.integer({ min: 0, max: 3 }), (i, before, after, e) => {
        const text = (encode[e] as (v: string) => string)(`${before}${values[i] as string}${after}`);
        expect(known.foundIn(`x ${text} y`)).toBe(true);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(known.foundIn(text)).toBe(values.some((v) => text.includes(v)));
      }),
      { numRuns: 500 },
    );
  });
});
