/** What a payload can be classified as; `data.contains` in policies names these. */
export type DataClass = 'pii' | 'secret' | 'injection';

export const DATA_CLASSES: readonly DataClass[] = ['pii', 'secret', 'injection'];

/**
 * Every finding type each class can report: what placeholders (`[REDACTED:TYPE]`), audit
 * records and per-type policy outcomes name. Detectors report no type outside this table.
 */
export const FINDING_TYPES = {
  pii: ['EMAIL', 'PHONE', 'CARD', 'IBAN', 'SSN', 'IP_ADDRESS'],
  secret: [
    'AWS_ACCESS_KEY', 'AWS_SECRET_KEY', 'GOOGLE_API_KEY', 'GCP_ACCESS_TOKEN', 'GCP_OAUTH_SECRET',
    'AZURE_STORAGE_KEY', 'AZURE_CLIENT_SECRET', 'AZURE_SAS_TOKEN', 'GITHUB_TOKEN', 'GITLAB_TOKEN',
    'SLACK_TOKEN', 'SLACK_WEBHOOK', 'STRIPE_KEY', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY',
    'HUGGINGFACE_TOKEN', 'NPM_TOKEN', 'PYPI_TOKEN', 'SENDGRID_KEY', 'PRIVATE_KEY', 'JWT',
    'BEARER_TOKEN', 'URL_CREDENTIALS', 'GENERIC_SECRET',
  ],
  injection: [
    'INSTRUCTION_OVERRIDE', 'ROLE_SPOOFING', 'HIDDEN_CONTENT', 'EXFILTRATION',
    'ENCODED_INSTRUCTION', 'TOOL_HIJACK', 'TOOL_POISONING',
  ],
} as const satisfies Record<DataClass, readonly string[]>;

export type FindingType = (typeof FINDING_TYPES)[DataClass][number];

/** One match of a detector in a scanned string. Offsets are UTF-16 indices into that string. */
export interface Finding {
  readonly class: DataClass;
  /** Upper-case type used in placeholders, one of FINDING_TYPES[class], e.g. EMAIL, AWS_ACCESS_KEY, HIDDEN_CONTENT. */
  readonly type: string;
  readonly start: number;
  readonly end: number;
  /**
   * Confidence in [0, 1]. Findings below the caller's `minScore` (default DEFAULT_MIN_SCORE)
   * are dropped by scanText, classifyPayload and redactPayload; detectors report them so that
   * an annotate-only caller can lower the bar (a phrase quoted in an article scores 0.35).
   */
  readonly score: number;
  /** Stable id of the detector rule that matched, e.g. `pii.email`, `injection.override.de`. */
  readonly rule: string;
}

/** Findings scoring below this are hints, not classifications. */
export const DEFAULT_MIN_SCORE = 0.5;

export interface ScanOptions {
  /**
   * Hosts a markdown image or link may point at without being an EXFILTRATION finding:
   * exact host names, or `*.example.com` for any subdomain. Without a list only links that
   * carry data (long query values, encoded blobs) are findings; with one, every image to a
   * host off the list is too.
   */
  readonly allowedHosts?: readonly string[];
  /** Drop findings scoring below this (default DEFAULT_MIN_SCORE). */
  readonly minScore?: number;
}

/** A detector for one data class. Must run in time linear in the input length. */
export interface Detector {
  readonly class: DataClass;
  /** Every finding, whatever its score (callers filter by `minScore`). */
  scan(text: string, options?: ScanOptions): Finding[];
}
