import { scanEmails } from './email.js';
import { scanIbans } from './iban.js';
import { scanIps } from './ip.js';
import { scanNumbers } from './numbers.js';
import type { Detector, Finding } from './types.js';

/** Emails (EMAIL), phone numbers (PHONE), payment cards (CARD), IBANs (IBAN), US SSNs (SSN), public IPs (IP_ADDRESS). */
export const piiDetector: Detector = {
  class: 'pii',
  scan(text: string): Finding[] {
    const out: Finding[] = [];
    scanEmails(text, out);
    scanNumbers(text, out);
    scanIbans(text, out);
    scanIps(text, out);
    return out;
  },
};
