import { describe, expect, it } from 'vitest';
import { piiDetector } from '../../src/scan/pii.js';
import { found } from './fixtures.js';

const pii = (text: string) => found(piiDetector, text);

describe('pii: EMAIL', () => {
  it.each([
    ['mail bob@example.com now', 'bob@example.com'],
    ['first.last+tag@sub.example.co.uk', 'first.last+tag@sub.example.co.uk'],
    ['x_y%z-w@mail-server.example.org', 'x_y%z-w@mail-server.example.org'],
    ['<bob@example.com>', 'bob@example.com'],
    ['mailto:bob@example.com', 'bob@example.com'],
    ['write to bob@example.com.', 'bob@example.com'],
    ['...bob@example.com', 'bob@example.com'],
    ['"bob@example.com","x"', 'bob@example.com'],
  ])('%s', (text, email) => {
    expect(pii(text)).toEqual([['EMAIL', email]]);
  });

  it.each([
    'bob@localhost',
    'bob@example',
    'bob@example.c',
    'bob@example.123',
    'bob@10.0.0.1',
    'a..b@example.com',
    'bob.@example.com',
    '@example.com',
    'bob@',
    'bob@-example.com',
    'bob@example-.com',
    'bob@example.com_x',
    'bob@@example.com',
    `${'a'.repeat(65)}@example.com`,
    `bob@${'a'.repeat(250)}.com`,
  ])('no match: %s', (text) => {
    expect(pii(text)).toEqual([]);
  });

  it('accepts the longest local part allowed', () => {
    const local = 'a'.repeat(64);
    expect(pii(` ${local}@example.com `)).toEqual([['EMAIL', `${local}@example.com`]]);
  });
});

describe('pii: PHONE', () => {
  it.each([
    ['+14155552671', '+14155552671'],
    ['tel +44 20 7946 0958.', '+44 20 7946 0958'],
    ['+1 415 555 2671', '+1 415 555 2671'],
    ['+49-30-1234567', '+49-30-1234567'],
    ['(415) 555-2671', '(415) 555-2671'],
    ['(415)555-2671', '(415)555-2671'],
    ['call 415-555-2671.', '415-555-2671'],
    ['415.555.2671', '415.555.2671'],
    ['1-415-555-2671', '1-415-555-2671'],
    ['+1 (415) 555-2671', '+1 (415) 555-2671'],
    ['+1-415-555-2671', '+1-415-555-2671'],
  ])('%s', (text, phone) => {
    expect(pii(text)).toEqual([['PHONE', phone]]);
  });

  it.each([
    '+0123456789',
    '+1234567',
    '+1234567890123456',
    'ID+14155552671',
    '+14155552671x',
    '415-555-267',
    '115-555-2671',
    '415-155-2671',
    '415-555.2671',
    '4155552671',
    '415 555 2671',
    'x415-555-2671',
    '415-555-2671x',
    '415-555-2671-9',
    '3.415.555.2671',
  ])('no match: %s', (text) => {
    expect(pii(text)).toEqual([]);
  });
});

describe('pii: CARD', () => {
  it.each([
    ['4111 1111 1111 1111', '4111 1111 1111 1111'],
    ['card: 4111-1111-1111-1111.', '4111-1111-1111-1111'],
    ['card:4111111111111111,', '4111111111111111'],
    ['5555 5555 5555 4444', '5555 5555 5555 4444'],
    ['2223 0031 2200 3222', '2223 0031 2200 3222'],
    ['3782 822463 10005', '3782 822463 10005'],
    ['6011 1111 1111 1117', '6011 1111 1111 1117'],
    ['3530111333300000', '3530111333300000'],
    ['3056 930902 5904', '3056 930902 5904'],
    ['4222222222222', '4222222222222'],
    ['+4111111111111111', '4111111111111111'],
    // Whole groups only, and the longest valid prefix of them.
    ['4111 1111 1111 1111 2024', '4111 1111 1111 1111'],
  ])('%s', (text, card) => {
    expect(pii(text)).toEqual([['CARD', card]]);
  });

  it.each([
    ['Luhn failure', '4111 1111 1111 1112'],
    ['unknown issuer', '1234 5678 9012 3452'],
    ['all zeros (Luhn-valid)', '0000 0000 0000 0000'],
    ['order id', 'ORD-4111111111111111X'],
    ['order id without suffix', 'ORD-4111111111111111'],
    ['inside a word', 'x4111111111111111'],
    ['longer digit run', '41111111111111111111'],
    ['decimal', '4111111111111111.5'],
    ['mixed separators', '4111 1111-1111 1111'],
    ['double spaces', '4111  1111  1111  1111'],
    ['digit-only UUID', '41111111-1111-1111-1111-111111111111'],
    ['two-digit groups', '41 11 11 11 11 11 11 11'],
  ])('no match: %s', (_why, text) => {
    expect(pii(text)).toEqual([]);
  });
});

describe('pii: SSN', () => {
  it.each([
    ['SSN 123-45-6789.', '123-45-6789'],
    ['(123-45-6789)', '123-45-6789'],
    ['899-99-9999', '899-99-9999'],
  ])('%s', (text, ssn) => {
    expect(pii(text)).toEqual([['SSN', ssn]]);
  });

  it.each([
    '000-12-3456',
    '666-12-3456',
    '900-12-3456',
    '999-12-3456',
    '123-00-4567',
    '123-45-0000',
    '123-45-67890',
    '1123-45-6789',
    'A123-45-6789',
    'ABC-123-45-6789',
    '123-45-6789-1',
    '123456789',
    '123 45 6789',
  ])('no match: %s', (text) => {
    expect(pii(text)).toEqual([]);
  });
});

describe('pii: identifiers that are not PII', () => {
  it.each([
    ['UUID', '550e8400-e29b-41d4-a716-446655440000'],
    ['version', 'v1.2.3 and 1.2.3'],
    ['date', '2024-01-15'],
    ['timestamp', '2024-01-15T10:20:30.123Z'],
    ['IP address', '10.0.0.1 and 192.168.100.200'],
    ['md5', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['sha1 with a digit run', 'da39a3ee5e6b4b0d3255bfef95601890afd80709'],
    ['epoch milliseconds', '1700000000000'],
    ['numeric hash', '4111111111111111111111111111111111111111'],
  ])('%s', (_what, text) => {
    expect(pii(text)).toEqual([]);
  });

  it('reports several findings with exact spans', () => {
    const text = 'Bob <bob@example.com>, 415-555-2671, card 4111 1111 1111 1111, SSN 123-45-6789';
    expect(pii(text)).toEqual([
      ['EMAIL', 'bob@example.com'],
      ['PHONE', '415-555-2671'],
      ['CARD', '4111 1111 1111 1111'],
      ['SSN', '123-45-6789'],
    ]);
    for (const f of piiDetector.scan(text)) expect(f.class).toBe('pii');
  });
});
