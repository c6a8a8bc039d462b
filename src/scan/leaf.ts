import { isJsonText, jsonLeafTokens } from './json-lexer.js';
import { scanText } from './scan-text.js';
import type { DataClass, Finding } from './types.js';

/** Replace `[start, end)` of a string leaf with `replacement`, because of a finding of `class`/`type`. */
export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly class: DataClass;
  readonly type: string;
  readonly replacement: string;
}

export function placeholder(type: string): string {
  return `[REDACTED:${type}]`;
}

/**
 * The edits that redact a string leaf, sorted and disjoint. Plain text is scanned as is.
 * JSON text is scanned per string literal (keys included: the text is opaque data to us)
 * on the decoded value, and each match is mapped back to a raw span of whole escapes,
 * so the edited text is still JSON; a matching number token becomes a quoted placeholder.
 */
export function stringEdits(text: string, classes: ReadonlySet<DataClass>): Edit[] {
  if (!isJsonText(text)) return scanText(text, classes).map((f) => edit(f, f.start, f.end, placeholder(f.type)));
  const edits: Edit[] = [];
  for (const token of jsonLeafTokens(text)) {
    if (token.kind === 'number') {
      const f = numberFinding(text.slice(token.start, token.end), classes);
      if (f !== undefined) edits.push(edit(f, token.start, token.end, JSON.stringify(placeholder(f.type))));
    } else {
      for (const f of scanText(token.value, classes)) {
        edits.push(edit(f, token.rawOffset(f.start), token.rawOffset(f.end), placeholder(f.type)));
      }
    }
  }
  return edits;
}

/** A number is judged by its decimal text as a whole: the first finding in it, if any. */
export function numberFinding(decimal: string, classes: ReadonlySet<DataClass>): Finding | undefined {
  return scanText(decimal, classes)[0];
}

export function applyEdits(text: string, edits: readonly Edit[]): string {
  let result = '';
  let copied = 0;
  for (const e of edits) {
    result += text.slice(copied, e.start) + e.replacement;
    copied = e.end;
  }
  return result + text.slice(copied);
}

function edit(f: Finding, start: number, end: number, replacement: string): Edit {
  return { start, end, class: f.class, type: f.type, replacement };
}
