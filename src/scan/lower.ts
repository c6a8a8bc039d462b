// Case-insensitive rules run without the `i` flag on a lower-cased copy of the text: V8's
// regex engine is several times faster on case-sensitive patterns. Offsets stay valid
// because toLowerCase never shortens a string, so equal lengths mean a unit-for-unit copy.

let lastText: string | undefined;
let lastLower: string | undefined;

/**
 * `text.toLowerCase()` when it keeps every offset, else undefined (the rare text with a
 * character such as 'İ' whose lower case is longer). The last answer is remembered, since
 * several detectors ask about the same text in turn.
 */
export function lowerSameOffsets(text: string): string | undefined {
  if (text === lastText) return lastLower;
  const lower = text.toLowerCase();
  lastText = text;
  lastLower = lower.length === text.length ? lower : undefined;
  return lastLower;
}

/**
 * A lower-cased view for offset-preserving rules: ASCII letters folded one by one when the
 * full lower-casing would move offsets (slow, but only for such rare texts).
 */
export function lowerForScan(text: string): string {
  const lower = lowerSameOffsets(text);
  if (lower !== undefined) return lower;
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
