/**
 * A literal that every match of an RE2 pattern contains, when one is easy to prove: the
 * longest run of plain characters outside any group, class or quantifier. Testing
 * `subject.includes(literal)` first lets most subjects skip the regex engine (whose program
 * is many objects, rarely in cache when thousands of policies each have their own regex).
 *
 * Conservative by construction: any escape, flag group, repetition count, top-level
 * alternation or non-ASCII character gives up (returns undefined) rather than reason about it.
 */
export function requiredLiteral(pattern: string): string | undefined {
  if (pattern.includes('(?') || /[^\x20-\x7e]/.test(pattern)) return undefined;
  let depth = 0;
  let run = '';
  let best = '';
  const end = () => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' || c === '{') return undefined;
    if (c === '[') {
      // A class is one unknown character; `]` right after `[` or `[^` is a literal `]`.
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      j = pattern.indexOf(']', j);
      if (j === -1) return undefined;
      end();
      i = j;
      continue;
    }
    if (c === '(' || c === ')') {
      depth += c === '(' ? 1 : -1;
      end();
      continue;
    }
    if (c === '|') {
      if (depth === 0) return undefined;
      continue;
    }
    if (depth > 0) continue;
    if (c === '*' || c === '+' || c === '?') {
      // The quantifier makes its atom optional or repeated: the run ends before it.
      run = run.slice(0, -1);
      end();
      continue;
    }
    if (c === '.' || c === '^' || c === '$') {
      end();
      continue;
    }
    run += c;
  }
  end();
  return best === '' ? undefined : best;
}
