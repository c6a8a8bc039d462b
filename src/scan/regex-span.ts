// An upper bound on how many UTF-16 units a regex can read forward from where a match
// starts: the match itself plus what its look-aheads and assertions peek at. Windows around
// phrase anchors are sized from it (see phrases.ts), so it must never be too small: every
// assertion counts as reading one character, look-arounds count as if they consumed their
// contents, and with the `u` flag every class or escape counts as a surrogate pair.
// Infinity for unbounded quantifiers and back-references.

export function regexSpan(source: string, unicode: boolean): number {
  const p = new SpanParser(source, unicode);
  const n = p.alternation();
  if (p.i !== source.length) throw new Error(`regexSpan: unexpected '${source[p.i] ?? ''}' at ${p.i}`);
  return n;
}

class SpanParser {
  i = 0;
  private readonly unit: number;

  constructor(
    private readonly s: string,
    unicode: boolean,
  ) {
    this.unit = unicode ? 2 : 1;
  }

  alternation(): number {
    let max = this.sequence();
    while (this.s[this.i] === '|') {
      this.i++;
      max = Math.max(max, this.sequence());
    }
    return max;
  }

  private sequence(): number {
    let sum = 0;
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      const atom = this.atom();
      const times = this.quantifier();
      sum += atom === 0 || times === 0 ? 0 : atom * times;
    }
    return sum;
  }

  private atom(): number {
    const c = this.s[this.i]!;
    this.i++;
    if (c === '(') {
      if (this.s[this.i] === '?') {
        this.i++;
        if (this.s[this.i] === '<' && this.s[this.i + 1] !== '=' && this.s[this.i + 1] !== '!') {
          this.i = this.s.indexOf('>', this.i) + 1; // a named group
        } else {
          this.i += this.s[this.i] === '<' ? 2 : 1; // ':', '=', '!', '<=', '<!'
        }
      }
      const n = this.alternation();
      if (this.s[this.i] !== ')') throw new Error(`regexSpan: unclosed group at ${this.i}`);
      this.i++;
      return n;
    }
    if (c === '[') {
      if (this.s[this.i] === ']') this.i++; // a leading ']' is a literal
      while (this.i < this.s.length && this.s[this.i] !== ']') this.i += this.s[this.i] === '\\' ? 2 : 1;
      if (this.s[this.i] !== ']') throw new Error('regexSpan: unclosed class');
      this.i++;
      return this.unit;
    }
    if (c === '\\') return this.escape();
    if (c === '.') return this.unit;
    if (c === '^' || c === '$') return 1; // an assertion peeks at one character
    return 1; // a literal code unit
  }

  private escape(): number {
    const c = this.s[this.i]!;
    this.i++;
    if (c === 'p' || c === 'P') {
      this.i = this.s.indexOf('}', this.i) + 1;
      return this.unit;
    }
    if (c === 'x') {
      this.i += 2;
      return 1;
    }
    if (c === 'u') {
      this.i += this.s[this.i] === '{' ? this.s.indexOf('}', this.i) + 1 - this.i : 4;
      return this.unit;
    }
    if (c >= '1' && c <= '9') return Infinity; // a back-reference
    if (c === 'b' || c === 'B') return 1;
    return this.unit; // \s \d \w, control escapes and escaped literals
  }

  /** The largest repeat count of the quantifier here, 1 when there is none. */
  private quantifier(): number {
    const c = this.s[this.i];
    let max = 1;
    if (c === '*' || c === '+') {
      this.i++;
      max = Infinity;
    } else if (c === '?') {
      this.i++;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.s.slice(this.i));
      if (m === null) return 1; // a literal '{'
      this.i += m[0].length;
      max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
    } else {
      return 1;
    }
    if (this.s[this.i] === '?') this.i++; // lazy
    return max;
  }
}
