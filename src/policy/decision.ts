import type { DataClass } from '../scan/types.js';
import type { SecretInjection } from './types.js';

/** The engine's answer: the seed's decision shape plus what audit needs. */
export type Outcome = 'allow' | 'deny' | 'modify';

export interface MatchedRule {
  readonly policyId: string;
  readonly policyNamespace: string | null;
  readonly policyVersion: string;
  readonly ruleId: string;
  readonly effect: 'allow' | 'deny' | 'modify' | 'annotate' | 'approval' | 'egress';
}

export interface Decision {
  decision: Outcome;
  reason: string;
  modifiedRequest?: ModifiedRequest;
  /** Name of the policy that decided; null for the default decision. */
  policyId: string | null;
  policyNamespace: string | null;
  /** Version of that policy; for the default decision, the version of the whole policy set. */
  policyVersion: string;
  ruleId: string | null;
  decisionId: string;
  /** Set when the call waits for a human approval; the decision is then `deny` until approved. */
  pending?: { approval: 'human' };
  /** Every rule that fired, in evaluation order. */
  matched: MatchedRule[];
  /** For a deny: the HTTP status an edge should answer with. */
  status?: number;
  /** A sentence for people, e.g. which destination is not allow-listed. */
  message?: string;
  /**
   * What annotate rules found in the payload (never the matched text). Set on allow, modify
   * and default decisions; annotations never change the outcome, and a deny ends evaluation.
   */
  findings?: DecisionFindings;
}

export interface DecisionFindings {
  /** Every annotated finding type: how many, and the highest score. Highest score first. */
  readonly types: readonly FindingSummary[];
  /** The first findings in payload order (at most MAX_LISTED_FINDINGS), with where they are. */
  readonly listed: readonly DecisionFinding[];
}

export interface FindingSummary {
  readonly type: string;
  readonly class: DataClass;
  readonly count: number;
  readonly score: number;
}

/** One annotated finding: where it is and what matched it, never the text itself. */
export interface DecisionFinding {
  readonly type: string;
  readonly class: DataClass;
  /** The scanner rule that matched, e.g. `pii.email`, `injection.override.de`. */
  readonly detector: string;
  /** JSON pointer of the payload leaf ('' for a payload that is a single string). */
  readonly path: string;
  /** UTF-16 offsets into that leaf's string (its raw JSON text for a JSON-text string). */
  readonly start: number;
  readonly end: number;
  readonly score: number;
  /** The annotate rule that selected it. */
  readonly policyId: string;
  readonly ruleId: string;
}

/** What a modify decision changes. Header changes are applied in the order rules fired. */
export interface ModifiedRequest {
  payload?: unknown;
  headers?: { set: Record<string, string>; remove: string[] };
  /** Headers the edge sets from Secrets: references only, the values never enter a decision. */
  inject?: SecretInjection[];
}

/** Reasons used when a rule gives none. */
export const DefaultReasons = {
  deny: 'denied-by-policy',
  allow: 'allowed-by-policy',
  approval: 'approval-required',
  modify: 'modified-by-policy',
  redact: 'redacted',
  egress: 'egress-not-allowlisted',
  noRule: 'no-matching-rule',
  defaultDeny: 'default-deny',
  error: 'evaluation-error',
} as const;
