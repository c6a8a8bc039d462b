import { describe, expect, it } from 'vitest';
import { ibanValid } from '../../src/scan/iban.js';
import { ipv6Groups } from '../../src/scan/ip.js';
import { piiDetector } from '../../src/scan/pii.js';
import { found } from './fixtures.js';

const pii = (text: string) => found(piiDetector, text);

describe('pii: IBAN', () => {
  it.each([
    ['IBAN GB82 WEST 1234 5698 7654 32.', 'GB82 WEST 1234 5698 7654 32'],
    ['DE89370400440532013000', 'DE89370400440532013000'],
    ['iban: FR1420041010050500013M02606,', 'FR1420041010050500013M02606'],
    ['NL91ABNA0417164300', 'NL91ABNA0417164300'],
  ])('%s', (text, iban) => {
    expect(pii(text)).toEqual([['IBAN', iban]]);
  });

  it.each([
    ['bad checksum', 'GB83 WEST 1234 5698 7654 32'],
    ['wrong length for the country', 'DE8937040044053201300'],
    ['unknown country', 'ZZ89370400440532013000'],
    ['glued to a word', 'xDE89370400440532013000'],
    ['groups of three', 'GB82 WES T12 345 698 765 432'],
    ['lower case', 'gb82west12345698765432'],
  ])('no match: %s', (_why, text) => {
    expect(pii(text)).toEqual([]);
  });

  it('checks mod 97 on the rearranged number', () => {
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB82WEST12345698765433')).toBe(false);
  });
});

describe('pii: IP_ADDRESS', () => {
  it.each([
    ['from 203.0.113.45 at noon', '203.0.113.45'],
    ['ip=8.8.8.8.', '8.8.8.8'],
    ['client 2001:db8:85a3::8a2e:370:7334 said hi', '2001:db8:85a3::8a2e:370:7334'],
    ['[2606:4700:4700::1111]:443', '2606:4700:4700::1111'],
  ])('%s', (text, ip) => {
    expect(pii(text)).toEqual([['IP_ADDRESS', ip]]);
  });

  it.each([
    ['private', '10.1.2.3 172.16.5.4 192.168.0.1 100.64.0.1'],
    ['loopback and link-local', '127.0.0.1 169.254.1.1 ::1 fe80::1'],
    ['unique local and multicast', 'fd00::1 ff02::1 224.0.0.1'],
    ['octet out of range', '256.1.1.1'],
    ['leading zeros', '010.001.002.003'],
    ['a version', 'version 8.8.4.4 and v1.2.3.4'],
    ['an OID', '1.3.6.1.4.1.311'],
    ['five parts', '8.8.8.8.8'],
    ['a time', '12:30:45'],
    ['a MAC address', '00:1a:2b:3c:4d:5e'],
    ['C++', 'std::vector<int> a::b::c'],
  ])('no match: %s', (_why, text) => {
    expect(pii(text)).toEqual([]);
  });

  it('parses compressed IPv6', () => {
    expect(ipv6Groups('2001:db8::1')).toEqual([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]);
    expect(ipv6Groups('1::2::3')).toBeUndefined();
    expect(ipv6Groups('1:2:3')).toBeUndefined();
  });
});

describe('pii: PHONE by context', () => {
  it.each([
    ['Tel: 020 7946 0958', '020 7946 0958'],
    ['téléphone : 01 45 67 89 10', '01 45 67 89 10'],
    ['Mobile 06-12-34-56-78.', '06-12-34-56-78'],
    ['Telefon: (030) 1234567', '(030) 1234567'],
  ])('%s', (text, phone) => {
    expect(pii(text)).toEqual([['PHONE', phone]]);
  });

  it.each(['Hotel: 12345678 guests', 'Order no: 12345678', 'Tel: 123', 'phone: 1234  5678'])('no match: %s', (text) => {
    expect(pii(text)).toEqual([]);
  });
});
