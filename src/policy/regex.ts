import { RE2JS } from 're2js';

/** Longest pattern a policy may carry; longer ones are almost always a mistake (or an attack). */
export const MAX_PATTERN_LENGTH = 1024;

export type SafeRegex = (subject: string) => boolean;

/**
 * Compiles a policy regex with RE2 semantics (re2js, a pure-JS port of RE2): matching time is
 * linear in the input, so hostile input cannot cause catastrophic backtracking. Backreferences
 * and lookaround are rejected at load because RE2 cannot run them in linear time.
 * Search is unanchored, like `RegExp.prototype.test`; use `^` and `$` to anchor.
 * Throws an Error whose message says why the pattern is invalid.
 */
export function compileSafeRegex(pattern: string): SafeRegex {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new Error(`pattern is ${pattern.length} characters long; the limit is ${MAX_PATTERN_LENGTH}`);
  }
  try {
    RE2JS.compile(pattern);
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^error parsing regexp: /, '') : String(err);
    throw new Error(`invalid regular expression (RE2 syntax: no backreferences or lookaround): ${why}`);
  }
  // Checked above; the program itself (≈ 16 KB even for a short pattern) is kept from its first
  // use on. In a given process most policies' regexes never run (their agents are elsewhere),
  // and 1,000 of them held 16 MB; compiling again on first use costs ≈ 0.1 ms, once.
  let re: RE2JS | undefined;
  return (subject) => (re ??= RE2JS.compile(pattern)).test(subject);
}
