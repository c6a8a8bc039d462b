// Just enough of a JSON lexer to find the string literals and numbers of text that
// JSON.parse has already accepted; it never validates and never recurses.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

export type JsonLeafToken =
  | { readonly kind: 'number'; readonly start: number; readonly end: number }
  | {
      readonly kind: 'string';
      /** The decoded value. */
      readonly value: string;
      /**
       * Raw index of the character or whole escape sequence that decoded offset `k` came
       * from; `value.length` maps to the closing quote. Spans mapped through it therefore
       * always cover whole escapes.
       */
      rawOffset(k: number): number;
    };

/** After optional whitespace the text opens an object or array, and it parses as JSON. */
export function isJsonText(text: string): boolean {
  if (!/^[ \t\n\r]*[{[]/.test(text)) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The string literals (keys included) and number tokens of valid JSON text, in order. */
export function* jsonLeafTokens(raw: string): Generator<JsonLeafToken> {
  let p = 0;
  while (p < raw.length) {
    const c = raw.charCodeAt(p);
    if (c === QUOTE) {
      const literal = readString(raw, p);
      yield literal.token;
      p = literal.end;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = p;
      while (p < raw.length && isNumberChar(raw.charCodeAt(p))) p++;
      yield { kind: 'number', start, end: p };
    } else {
      p++;
    }
  }
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45;
}

function readString(raw: string, open: number): { token: JsonLeafToken; end: number } {
  let p = open + 1;
  while (p < raw.length && raw.charCodeAt(p) !== QUOTE && raw.charCodeAt(p) !== BACKSLASH) p++;
  if (raw.charCodeAt(p) === QUOTE) {
    const value = raw.slice(open + 1, p);
    return { token: { kind: 'string', value, rawOffset: (k) => open + 1 + k }, end: p + 1 };
  }
  // Escapes present: decode unit by unit, remembering where each unit started in the raw text.
  const offsets: number[] = [];
  for (let k = open + 1; k < p; k++) offsets.push(k);
  let value = raw.slice(open + 1, p);
  while (p < raw.length && raw.charCodeAt(p) !== QUOTE) {
    offsets.push(p);
    if (raw.charCodeAt(p) === BACKSLASH) {
      const e = raw.charAt(p + 1);
      if (e === 'u') {
        value += String.fromCharCode(parseInt(raw.slice(p + 2, p + 6), 16));
        p += 6;
      } else {
        value += unescapeChar(e);
        p += 2;
      }
    } else {
      value += raw.charAt(p);
      p++;
    }
  }
  const close = p;
  offsets.push(close);
  return { token: { kind: 'string', value, rawOffset: (k) => offsets[k] ?? close }, end: close + 1 };
}

function unescapeChar(e: string): string {
  switch (e) {
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return e; // '"', '\\' and '/' stand for themselves
  }
}
