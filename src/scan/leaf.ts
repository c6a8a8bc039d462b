import { credentialValue, isCredentialKey } from './credentials.js';
import { isJsonText, jsonLeafTokens } from './json-lexer.js';
import { scanText } from './scan-text.js';
import { DEFAULT_MIN_SCORE } from './types.js';
import type { DataClass, Finding, ScanOptions } from './types.js';

export interface LeafOptions extends ScanOptions {
  /** Only findings of these types (all when omitted). */
  readonly types?: ReadonlySet<string>;
}

/** Replace `[start, end)` of a string leaf with `replacement`, because of a finding of `class`/`type`. */
export interface Edit {
  readonly start: number;
  readonly end: number;
  readonly class: DataClass;
  readonly type: string;
  readonly score: number;
  readonly rule: string;
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
 * A string standing under a credential-named key (`key`, or the preceding key inside JSON
 * text) is a secret as a whole when it looks random enough.
 */
export function stringEdits(text: string, classes: ReadonlySet<DataClass>, options?: LeafOptions, key?: string): Edit[] {
  if (!isJsonText(text)) return textFindings(text, classes, options, key).map((f) => edit(f, f.start, f.end, placeholder(f.type)));
  const edits: Edit[] = [];
  let lastKey: string | undefined;
  for (const token of jsonLeafTokens(text)) {
    if (token.kind === 'number') {
      const f = numberFinding(text.slice(token.start, token.end), classes, options);
      if (f !== undefined) edits.push(edit(f, token.start, token.end, JSON.stringify(placeholder(f.type))));
      lastKey = undefined;
      continue;
    }
    const close = token.rawOffset(token.value.length);
    const isKey = /^[ \t\n\r]*:/.test(text.slice(close + 1, close + 9));
    for (const f of textFindings(token.value, classes, options, isKey ? undefined : lastKey)) {
      edits.push(edit(f, token.rawOffset(f.start), token.rawOffset(f.end), placeholder(f.type)));
    }
    lastKey = isKey ? token.value : undefined;
  }
  return edits;
}

function textFindings(text: string, classes: ReadonlySet<DataClass>, options: LeafOptions | undefined, key: string | undefined): Finding[] {
  let found = scanText(text, classes, options);
  if (found.length === 0 && key !== undefined && classes.has('secret') && isCredentialKey(key)) {
    const f = credentialValue(key.toLowerCase(), text, 0);
    if (f !== undefined && f.end === text.length && f.score >= (options?.minScore ?? DEFAULT_MIN_SCORE)) found = [f];
  }
  const types = options?.types;
  return types === undefined ? found : found.filter((f) => types.has(f.type));
}

/** A number is judged by its decimal text as a whole: the first finding in it, if any. */
export function numberFinding(decimal: string, classes: ReadonlySet<DataClass>, options?: LeafOptions): Finding | undefined {
  return textFindings(decimal, classes, options, undefined)[0];
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
  return { start, end, class: f.class, type: f.type, score: f.score, rule: f.rule, replacement };
}
