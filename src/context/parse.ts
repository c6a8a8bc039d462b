import { toPointer, type Problem } from '../errors.js';
import { Codes } from '../policy/problems.js';
import { schemaCheck } from '../policy/schema-check.js';
import contextSchema from './decision-context.schema.json' with { type: 'json' };
import type { DecisionContext } from './types.js';

const checkContext = schemaCheck(contextSchema, Codes.context);

/**
 * Parses untrusted DecisionContext JSON (one object, or an array of them) and checks it
 * against decision-context.schema.json. Problems carry the file, line and column of a JSON
 * syntax error, or the JSON pointer of a schema violation.
 */
export function parseContexts(text: string, file: string): { contexts: DecisionContext[]; problems: Problem[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { contexts: [], problems: [{ code: Codes.context, message: `not valid JSON: ${jsonMessage(err)}`, location: { file, ...jsonPosition(err, text) } }] };
  }
  const list = Array.isArray(value) ? value : [value];
  const problems: Problem[] = [];
  for (const [i, item] of list.entries()) {
    for (const p of checkContext(item)) {
      const at = Array.isArray(value) ? [i, ...p.at] : p.at;
      problems.push({ code: p.code, message: p.message, hint: p.hint, location: { file, pointer: toPointer(at) } });
    }
  }
  return { contexts: problems.length === 0 ? (list as DecisionContext[]) : [], problems };
}

function jsonMessage(err: unknown): string {
  return (err as Error).message.replace(/ in JSON at position \d+.*$/s, '').replace(/ \(line \d+ column \d+\)$/, '');
}

/** Node 20 reports "at position N", Node 22+ "(line L column C)"; both become line and col. */
function jsonPosition(err: unknown, text: string): { line?: number; col?: number } {
  const msg = (err as Error).message;
  const lc = /line (\d+) column (\d+)/.exec(msg);
  if (lc) return { line: Number(lc[1]), col: Number(lc[2]) };
  const pos = /position (\d+)/.exec(msg);
  if (!pos) return text.trim() === '' ? { line: 1, col: 1 } : {};
  const before = text.slice(0, Number(pos[1]));
  const line = before.split('\n').length;
  return { line, col: Number(pos[1]) - before.lastIndexOf('\n') };
}
