import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml';
import type { Problem } from '../errors.js';
import { Codes, type DocPath, type Target } from './problems.js';

/** One YAML document of a file, with a way back from document paths to file positions. */
export interface SourceDocument {
  readonly file: string;
  /** 0-based index of the document within its file. */
  readonly index: number;
  readonly value: unknown;
  /** Line (1-based) where the document starts. */
  readonly line: number;
  locate(at: DocPath, target: Target): { line: number; col: number };
}

export interface ParsedFile {
  readonly documents: SourceDocument[];
  readonly problems: Problem[];
}

/** Guards against alias bombs ("billion laughs"): expanding more aliases than this is an error. */
const MAX_ALIAS_COUNT = 100;

export function parseYaml(file: string, text: string): ParsedFile {
  const lines = new LineCounter();
  const problems: Problem[] = [];
  const documents: SourceDocument[] = [];
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const all = Array.isArray(docs) ? docs : [];
  for (const [index, doc] of all.entries()) {
    if (doc.errors.length > 0) {
      for (const err of doc.errors) {
        const pos = err.linePos?.[0] ?? lines.linePos(err.pos[0]);
        problems.push({
          code: Codes.yamlSyntax,
          message: syntaxMessage(err.code, err.message),
          location: { file, line: pos.line, col: pos.col },
          hint: syntaxHint(err.code, text, pos.line),
        });
      }
      continue;
    }
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue; // empty, e.g. after a trailing `---`
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      const pos = lines.linePos(doc.range[0]);
      problems.push({ code: Codes.yamlSyntax, message: (err as Error).message, location: { file, line: pos.line, col: pos.col } });
      continue;
    }
    const start = lines.linePos(doc.contents.range[0]);
    documents.push({
      file,
      index,
      value,
      line: start.line,
      locate: (at, target) => lines.linePos(offsetOf(doc, at, target)),
    });
  }
  return { documents, problems };
}

/** Start offset of the node at `at` (its key for target `key`); the nearest existing ancestor otherwise. */
function offsetOf(doc: Document, at: DocPath, target: Target): number {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const [i, seg] of at.entries()) {
    if (isAlias(node)) node = node.resolve(doc);
    const last = i === at.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return offset;
      const keyNode = pair.key as Node;
      if (last && target === 'key') return keyNode.range?.[0] ?? offset;
      const valueNode = pair.value as Node | null;
      offset = valueNode?.range?.[0] ?? keyNode.range?.[0] ?? offset;
      node = valueNode;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) return offset;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      return offset;
    }
  }
  return offset;
}

function syntaxMessage(code: string, message: string): string {
  // The yaml library appends its own "at line X, column Y" and a code excerpt; we print positions ourselves.
  return `${message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? message} (${code})`;
}

/**
 * A scalar on its own line under `key:` followed by sibling `k: v` lines is the commonest way
 * to write invalid YAML by hand (the seed's `action:` / `deny` / `reason:`). Show the fix.
 */
function syntaxHint(code: string, text: string, line: number): string | undefined {
  if (code !== 'MULTILINE_IMPLICIT_KEY') return undefined;
  const lines = text.split(/\r?\n/);
  const current = lines[line - 1] ?? '';
  let prevIndex = line - 2;
  while (prevIndex >= 0 && (lines[prevIndex] ?? '').trim() === '') prevIndex--;
  const previous = lines[prevIndex] ?? '';
  const next = lines[line] ?? '';
  const parent = /^(\s*(?:-\s+)?)([^\s:#][^:#]*):\s*$/.exec(previous);
  const scalar = /^\s*([^\s:#][^:#]*?)\s*$/.exec(current);
  const sibling = /^\s*([^\s:#][^:#]*):\s*(.*)$/.exec(next);
  if (!parent || !scalar || !sibling) return undefined;
  const indent = (parent[1] ?? '').replace(/-/, ' ');
  return [
    `"${scalar[1]}" is the value of "${parent[2]}", and "${sibling[1]}" is a sibling key; write them as:`,
    `${indent}${parent[2]}: ${scalar[1]}`,
    `${indent}${sibling[1]}: ${sibling[2]}`,
  ].join('\n');
}

/** A file's text as read, named by its path. */
export interface SourceText {
  readonly file: string;
  readonly text: string;
}

const parsedSources = new WeakMap<SourceText, ParsedFile>();

/**
 * `parseYaml` once per source object: Policies and Secrets share files, and each loader
 * walks the same sources for its own kind.
 */
export function parseSource(source: SourceText): ParsedFile {
  let parsed = parsedSources.get(source);
  if (parsed === undefined) parsedSources.set(source, (parsed = parseYaml(source.file, source.text)));
  return parsed;
}
