/**
 * Returns an internalized copy of `s`. Strings sliced from YAML source are not internalized,
 * and V8 must look up a non-internalized property key in its string table on every access:
 * interning label keys and header names once at compile time keeps per-decision lookups fast.
 */
export function intern(s: string): string {
  const holder: Record<string, true> = { [s]: true };
  return Object.keys(holder)[0] as string;
}
