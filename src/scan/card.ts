import { luhnValid } from './luhn.js';

interface IinRange {
  /** Inclusive bounds on the leading digits; both bounds have the same number of digits. */
  readonly from: string;
  readonly to: string;
  readonly lengths: readonly number[];
}

const range = (min: number, max: number): number[] =>
  Array.from({ length: max - min + 1 }, (_, i) => min + i);

// Issuer prefixes of the major networks. A Luhn-valid digit run is a card only if it also
// starts like one and has that network's length: this is what keeps random ids out.
const IIN_RANGES: readonly IinRange[] = [
  { from: '4', to: '4', lengths: [13, 16, 19] }, // Visa
  { from: '51', to: '55', lengths: [16] }, // Mastercard
  { from: '2221', to: '2720', lengths: [16] }, // Mastercard 2-series
  { from: '34', to: '34', lengths: [15] }, // American Express
  { from: '37', to: '37', lengths: [15] },
  { from: '6011', to: '6011', lengths: range(16, 19) }, // Discover
  { from: '644', to: '649', lengths: range(16, 19) },
  { from: '65', to: '65', lengths: range(16, 19) },
  { from: '300', to: '305', lengths: range(14, 19) }, // Diners Club
  { from: '36', to: '36', lengths: range(14, 19) },
  { from: '38', to: '39', lengths: range(14, 19) },
  { from: '3528', to: '3589', lengths: range(16, 19) }, // JCB
  { from: '62', to: '62', lengths: range(16, 19) }, // UnionPay
  { from: '50', to: '50', lengths: range(13, 19) }, // Maestro
  { from: '56', to: '58', lengths: range(13, 19) },
  { from: '67', to: '67', lengths: range(13, 19) },
];

export const CARD_MIN_DIGITS = 13;
export const CARD_MAX_DIGITS = 19;

/** True when `digits` (ASCII digits only) has a known issuer prefix and length and passes Luhn. */
export function isCardNumber(digits: string): boolean {
  if (digits.length < CARD_MIN_DIGITS || digits.length > CARD_MAX_DIGITS) return false;
  const known = IIN_RANGES.some(({ from, to, lengths }) => {
    const prefix = digits.slice(0, from.length);
    return prefix >= from && prefix <= to && lengths.includes(digits.length);
  });
  return known && luhnValid(digits);
}
