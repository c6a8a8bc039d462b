/** What a payload can be classified as; `data.contains` in policies names these. */
export type DataClass = 'pii' | 'secret' | 'injection';

export const DATA_CLASSES: readonly DataClass[] = ['pii', 'secret', 'injection'];

/** One match of a detector in a scanned string. Offsets are UTF-16 indices into that string. */
export interface Finding {
  readonly class: DataClass;
  /** Upper-case type used in placeholders, e.g. EMAIL, PHONE, CARD, SSN, AWS_ACCESS_KEY, INJECTION. */
  readonly type: string;
  readonly start: number;
  readonly end: number;
  /** Confidence in [0, 1]. */
  readonly score: number;
  /** Stable id of the detector rule that matched, e.g. `pii.email`. */
  readonly rule: string;
}

/** A detector for one data class. Must run in time linear in the input length. */
export interface Detector {
  readonly class: DataClass;
  scan(text: string): Finding[];
}
