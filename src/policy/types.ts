import type { Hook } from '../context/types.js';
import type { Condition } from './conditions.js';
import type { CompiledSelector, LabelSelectorSpec } from './selector.js';

export const API_VERSION = 'joch.dev/v1alpha1';

/** A Policy resource as authored (validated against policy.schema.json). */
export interface PolicyResource {
  apiVersion: typeof API_VERSION;
  kind: 'Policy';
  metadata: {
    name: string;
    namespace?: string;
    tenant?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    priority?: number;
    appliesTo?: {
      agents?: { selector?: LabelSelectorSpec };
      environments?: string[];
      hooks?: Hook[];
    };
    allowlists?: Record<string, (string | number)[]>;
    egress?: { allow: EgressEntrySpec[] };
    rules?: RuleSpec[];
  };
}

export interface RuleSpec {
  id?: string;
  name?: string;
  description?: string;
  when?: Record<string, unknown>;
  action?: 'allow' | 'deny' | { redact?: true | string[]; annotate?: true | string[] | AnnotateSpec; headers?: HeaderMutationSpec; inject?: InjectSpec | InjectSpec[] };
  require?: { approval: 'human' };
  reason?: string;
  status?: number;
}

/** `annotate` in its long form: which types (default as for `true`) and from which score. */
export interface AnnotateSpec {
  types?: string[];
  minScore?: number;
}

export interface HeaderMutationSpec {
  set?: Record<string, string>;
  remove?: string[];
}

/** Sets an outbound header from a Secret resolved at the gateway: `format` around `{value}`. */
export interface InjectSpec {
  header: string;
  secret: string;
  format?: string;
}

export interface EgressEntrySpec {
  hosts?: string[];
  cidrs?: string[];
  ports?: number[];
}

/** Outbound request header changes, applied in order: `set` overwrites, `remove` strips. */
export interface HeaderMutation {
  readonly set: Readonly<Record<string, string>>;
  readonly remove: readonly string[];
  /** Headers set from Secrets at the edge; only the reference is in the policy and the decision. */
  readonly inject?: readonly SecretInjection[];
}

/** A compiled `inject`: the header, the Secret's name, and the text around the value. */
export interface SecretInjection {
  readonly header: string;
  readonly secret: string;
  readonly prefix: string;
  readonly suffix: string;
}

/**
 * What a rule does when its `when` holds. `redact` and `annotate` hold finding types (a class
 * named in the policy stands for all of its types, see findings.ts). A rule that only
 * annotates has kind `annotate`; annotating beside a redaction or header change is a modify.
 */
export type Effect =
  | { readonly kind: 'allow' }
  | { readonly kind: 'deny'; readonly status: number }
  | { readonly kind: 'approval'; readonly approval: 'human' }
  | { readonly kind: 'annotate'; readonly annotate: Annotate }
  | { readonly kind: 'modify'; readonly redact?: ReadonlySet<string>; readonly annotate?: Annotate; readonly headers?: HeaderMutation };

/**
 * A compiled `annotate`: the finding types it names, and the lowest score it reports. Below the
 * default 0.5 are mentions (a quoted or negated phrase scores 0.35) that `data.contains`
 * never sees but an annotation may record.
 */
export interface Annotate {
  readonly types: ReadonlySet<string>;
  readonly minScore: number;
}

/** One compiled egress allow-list entry; every field it has must match. */
export interface EgressEntry {
  readonly hosts?: readonly ((host: string) => boolean)[];
  readonly cidrs?: (ip: string) => boolean;
  readonly ports?: ReadonlySet<number>;
  /** As written, for messages. */
  readonly text: string;
}

export interface CompiledRule {
  readonly id: string;
  readonly index: number;
  readonly effect: Effect;
  readonly reason: string | undefined;
  readonly condition: Condition;
  /** Where the rule is written, for explain output and error messages. */
  readonly source: SourceRef;
}

export interface SourceRef {
  readonly file: string;
  readonly line: number;
}

/** An allow-list entry, compiled: matches one value of its path. */
export type AllowEntry = (value: string) => boolean;

export interface CompiledPolicy {
  /** `metadata.name`: the decision's policyId. */
  readonly name: string;
  readonly namespace: string | undefined;
  readonly tenant: string | undefined;
  /** Stable identity within a policy set: tenant/namespace/name with `*` for unscoped parts. */
  readonly key: string;
  /** Content hash: the same content always gives the same version. */
  readonly version: string;
  readonly priority: number;
  readonly selector: CompiledSelector;
  readonly environments: ReadonlySet<string> | undefined;
  readonly hooks: ReadonlySet<Hook> | undefined;
  readonly rules: readonly CompiledRule[];
  readonly allowlists: ReadonlyMap<string, readonly AllowEntry[]>;
  /** Egress allow-list; when any applicable policy has one, destinations must be on one. */
  readonly egress: readonly EgressEntry[] | undefined;
  readonly source: SourceRef;
}
