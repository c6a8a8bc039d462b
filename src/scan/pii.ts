import { scanEmails } from './email.js';
import { scanIbans } from './iban.js';
import { scanIps } from './ip.js';
import { lowerForScan } from './lower.js';
import { scanContextPhones, scanNumbers } from './numbers.js';
import type { Detector, Finding } from './types.js';

/** Emails (EMAIL), phone numbers (PHONE), payment cards (CARD), IBANs (IBAN), US SSNs (SSN), public IPs (IP_ADDRESS). */
export const piiDetector: Detector = {
  class: 'pii',
  scan(text: string): Finding[] {
    const phones: Finding[] = [];
    scanContextPhones(text, lowerForScan(text), phones);
    return piiFindings(text, phones);
  },
};

/** Every PII finding in `text`, given its phone-word numbers (found by scanContextPhones or a shared word pass). */
export function piiFindings(text: string, contextPhones: readonly Finding[]): Finding[] {
  const out: Finding[] = [];
  scanEmails(text, out);
  scanNumbers(text, out);
  for (const f of contextPhones) out.push(f);
  scanIbans(text, out);
  scanIps(text, out);
  return out;
}
