import type { DecisionContext } from '../context/types.js';
import type { DataClass } from '../scan/types.js';

/** What a compiled condition reads during one decision. Expensive facts are computed lazily, once. */
export interface EvalState {
  readonly ctx: DecisionContext;
  /** Classes found in `ctx.payload` (scanned on first use only). */
  dataClasses(): ReadonlySet<DataClass>;
  /** Whether `value` is on an allow-list for `path` declared by a policy that applies to this context. */
  allowlisted(path: string, value: string): boolean;
}
