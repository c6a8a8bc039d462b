import { scanEmails } from './email.js';
import { scanNumbers } from './numbers.js';
import type { Detector, Finding } from './types.js';

/** Emails (EMAIL), phone numbers (PHONE), payment cards (CARD) and US SSNs (SSN). */
export const piiDetector: Detector = {
  class: 'pii',
  scan(text: string): Finding[] {
    const out: Finding[] = [];
    scanEmails(text, out);
    scanNumbers(text, out);
    return out;
  },
};
