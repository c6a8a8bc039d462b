// Character tests on UTF-16 code units. Out-of-range reads (charCodeAt → NaN) answer false,
// so boundary checks at the ends of a string need no special cases.

export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

export function isAsciiLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

export function isAsciiAlnum(c: number): boolean {
  return isDigit(c) || isAsciiLetter(c);
}

/** `[A-Za-z0-9_]`, the characters of a word for boundary purposes. */
export function isWordChar(c: number): boolean {
  return isAsciiAlnum(c) || c === 0x5f;
}

/** `[A-Za-z0-9_-]`, the characters API keys and base64url segments are made of. */
export function isTokenChar(c: number): boolean {
  return isWordChar(c) || c === 0x2d;
}

export function hasDigit(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (isDigit(text.charCodeAt(i))) return true;
  return false;
}
