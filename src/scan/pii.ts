import { scanEmails } from './email.js';
import { scanIbans } from './iban.js';
import { Ipv4Scanner, scanIps, scanIpv6 } from './ip.js';
import { lowerForScan } from './lower.js';
import { scanContextPhones, scanNumbers } from './numbers.js';
import type { Detector, Finding } from './types.js';

/**
 * Emails (EMAIL), phone numbers (PHONE), payment cards (CARD), IBANs (IBAN), US SSNs (SSN),
 * public IPs (IP_ADDRESS). Each rule here makes its own pass; scanText finds the same through
 * passes shared with other rules and classes (piiFindings).
 */
export const piiDetector: Detector = {
  class: 'pii',
  scan(text: string): Finding[] {
    const out: Finding[] = [];
    scanEmails(text, out);
    scanNumbers(text, out);
    scanContextPhones(text, lowerForScan(text), out);
    scanIbans(text, out);
    scanIps(text, out);
    return out;
  },
};

/**
 * What piiDetector finds in `text`, in the same order, given the phone-word numbers and,
 * unless undefined, the IBANs that a shared word pass found; IPv4 addresses are found among
 * the number candidates.
 */
export function piiFindings(text: string, contextPhones: readonly Finding[], ibans: readonly Finding[] | undefined): Finding[] {
  const out: Finding[] = [];
  scanEmails(text, out);
  const ipv4 = new Ipv4Scanner(text, []);
  scanNumbers(text, out, ipv4);
  for (const f of contextPhones) out.push(f);
  if (ibans === undefined) scanIbans(text, out);
  else for (const f of ibans) out.push(f);
  for (const f of ipv4.out) out.push(f);
  scanIpv6(text, out);
  return out;
}
