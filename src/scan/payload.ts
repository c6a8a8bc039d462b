import { toPointer } from '../errors.js';
import { applyEdits, numberFinding, placeholder, stringEdits } from './leaf.js';
import type { LeafOptions } from './leaf.js';
import { DATA_CLASSES } from './types.js';
import type { DataClass, Finding } from './types.js';

/** Options for payload scans: the text options, and which finding types count (all when omitted). */
export type PayloadScanOptions = LeafOptions;

// Payloads are JSON values and are walked with explicit stacks, never recursion, so nesting
// depth is bounded by memory, not by the call stack. Arrays and plain objects are walked;
// strings and numbers are scanned; anything else (null, booleans, class instances) is kept as is.
// Numbers are scanned as their decimal text (String(n)) because card numbers do arrive as
// JSON numbers; a number that matches is replaced by the placeholder string as a whole.

type Container = unknown[] | Record<string, unknown>;

function asContainer(value: unknown): Container | undefined {
  if (Array.isArray(value)) return value;
  if (typeof value !== 'object' || value === null) return undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null ? (value as Record<string, unknown>) : undefined;
}

/** The data classes found in the string and number values of a JSON value (object keys are not scanned). */
export function classifyPayload(payload: unknown, options?: PayloadScanOptions): Set<DataClass> {
  const found = new Set<DataClass>();
  const remaining = new Set<DataClass>(DATA_CLASSES);
  const seen = new WeakSet<object>(); // shared subtrees are scanned once, and cycles end
  const stack: [unknown, string | undefined][] = [[payload, undefined]];
  while (stack.length > 0 && remaining.size > 0) {
    const [value, key] = stack.pop()!;
    const container = asContainer(value);
    if (container !== undefined) {
      if (seen.has(container)) continue;
      seen.add(container);
      const isArray = Array.isArray(container);
      for (const [k, child] of Object.entries(container)) stack.push([child, isArray ? undefined : k]);
    } else if (typeof value === 'string') {
      for (const e of stringEdits(value, remaining, options, key)) markFound(e.class);
    } else if (typeof value === 'number') {
      const f = numberFinding(String(value), remaining, options);
      if (f !== undefined) markFound(f.class);
    }
  }
  return found;

  function markFound(c: DataClass): void {
    found.add(c);
    remaining.delete(c);
  }
}

/** A finding in a payload leaf: `path` is the JSON pointer of the leaf; offsets are into its string (raw JSON text for JSON-text strings). */
export interface PayloadFinding extends Finding {
  readonly path: string;
}

/**
 * Every finding (of `classes`, all when omitted) in the string and number leaves of a JSON
 * value, with the leaf's JSON pointer: what an annotate outcome records and what a
 * per-finding-type policy decides on. Walked iteratively; shared subtrees are scanned once.
 */
export function scanPayload(payload: unknown, classes: ReadonlySet<DataClass> = new Set(DATA_CLASSES), options?: PayloadScanOptions): PayloadFinding[] {
  const out: PayloadFinding[] = [];
  const seen = new WeakSet<object>();
  const stack: PathNode[] = [{ value: payload, key: undefined, parent: undefined }];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    const container = asContainer(node.value);
    if (container !== undefined) {
      if (seen.has(container)) continue;
      seen.add(container);
      const entries = Object.entries(container);
      const isArray = Array.isArray(container);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, child] = entries[i]!;
        stack.push({ value: child, key: isArray ? i : k, parent: node });
      }
    } else if (typeof node.value === 'string' || typeof node.value === 'number') {
      const key = typeof node.key === 'string' ? node.key : undefined;
      const edits = typeof node.value === 'string' ? stringEdits(node.value, classes, options, key) : numberEdits(node.value, classes, options);
      for (const e of edits) out.push({ class: e.class, type: e.type, start: e.start, end: e.end, score: e.score, rule: e.rule, path: pointerOf(node) });
    }
  }
  return out;
}

/** A node of the walk, linked to its parent so that paths cost nothing until a finding needs one. */
interface PathNode {
  readonly value: unknown;
  readonly key: string | number | undefined;
  readonly parent: PathNode | undefined;
}

function pointerOf(node: PathNode): string {
  const path: (string | number)[] = [];
  for (let n: PathNode | undefined = node; n?.key !== undefined; n = n.parent) path.push(n.key);
  return toPointer(path.reverse());
}

function numberEdits(value: number, classes: ReadonlySet<DataClass>, options: PayloadScanOptions | undefined): Finding[] {
  const decimal = String(value);
  const f = numberFinding(decimal, classes, options);
  return f === undefined ? [] : [{ ...f, start: 0, end: decimal.length }];
}

export interface Redacted<T> {
  /** Typed as the input for convenience: a redacted number leaf has become a string. */
  readonly value: T;
  /** How many spans (or number leaves) were replaced. */
  readonly redactions: number;
  /** The distinct finding types replaced, sorted. */
  readonly types: string[];
}

interface Frame {
  readonly source: Container;
  /** Own enumerable keys of an object; undefined for an array. */
  readonly keys: readonly string[] | undefined;
  readonly length: number;
  next: number;
  /** Created on the first changed child, so untouched containers are returned as they are. */
  copy: Container | undefined;
  readonly parent: Frame | undefined;
  readonly key: string | number;
}

/**
 * A copy of `payload` with every finding of `classes` in its string values replaced by
 * `[REDACTED:TYPE]`. Copy-on-write: unchanged containers and leaves are shared with the
 * input, key order is kept, and the input itself is returned when nothing was redacted.
 * Throws a TypeError on a circular payload, which no JSON value is.
 */
export function redactPayload<T>(payload: T, classes: ReadonlySet<DataClass>, options?: PayloadScanOptions): Redacted<T> {
  let redactions = 0;
  const types = new Set<string>();
  let root: unknown = payload;
  const stack: Frame[] = [];
  const onPath = new Set<object>();

  const redactLeaf = (value: unknown, key: string | undefined): unknown => {
    if (typeof value === 'string') {
      const edits = stringEdits(value, classes, options, key);
      if (edits.length === 0) return value;
      redactions += edits.length;
      for (const e of edits) types.add(e.type);
      return applyEdits(value, edits);
    }
    if (typeof value === 'number') {
      const f = numberFinding(String(value), classes, options);
      if (f === undefined) return value;
      redactions++;
      types.add(f.type);
      return placeholder(f.type);
    }
    return value;
  };

  const assign = (parent: Frame | undefined, key: string | number, value: unknown): void => {
    if (parent === undefined) {
      root = value;
      return;
    }
    parent.copy ??= shallowCopy(parent);
    defineOwn(parent.copy, key, value);
  };

  const visit = (value: unknown, parent: Frame | undefined, key: string | number): void => {
    const source = asContainer(value);
    if (source === undefined) {
      const redacted = redactLeaf(value, parent?.keys === undefined ? undefined : String(key));
      if (redacted !== value) assign(parent, key, redacted);
      return;
    }
    if (onPath.has(source)) throw new TypeError('redactPayload: circular structure');
    onPath.add(source);
    const keys = Array.isArray(source) ? undefined : Object.keys(source);
    const length = keys === undefined ? (source as unknown[]).length : keys.length;
    stack.push({ source, keys, length, next: 0, copy: undefined, parent, key });
  };

  visit(payload, undefined, '');
  for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
    if (top.next < top.length) {
      const key = top.keys === undefined ? top.next : top.keys[top.next]!;
      top.next++;
      visit((top.source as Record<string | number, unknown>)[key], top, key);
      continue;
    }
    stack.pop();
    onPath.delete(top.source);
    if (top.copy !== undefined) assign(top.parent, top.key, top.copy);
  }
  return { value: root as T, redactions, types: [...types].sort() };
}

function shallowCopy(frame: Frame): Container {
  const { source, keys } = frame;
  if (keys === undefined) return (source as unknown[]).slice();
  // Own data properties, defined rather than assigned, so a "__proto__" key stays a key.
  const copy = Object.create(Object.getPrototypeOf(source)) as Record<string, unknown>;
  for (const k of keys) defineOwn(copy, k, (source as Record<string, unknown>)[k]);
  return copy;
}

function defineOwn(target: Container, key: string | number, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}
