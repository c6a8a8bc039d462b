import { applyEdits, numberFinding, placeholder, stringEdits } from './leaf.js';
import { DATA_CLASSES } from './types.js';
import type { DataClass } from './types.js';

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
export function classifyPayload(payload: unknown): Set<DataClass> {
  const found = new Set<DataClass>();
  const remaining = new Set<DataClass>(DATA_CLASSES);
  const seen = new WeakSet<object>(); // shared subtrees are scanned once, and cycles end
  const stack: unknown[] = [payload];
  while (stack.length > 0 && remaining.size > 0) {
    const value = stack.pop();
    const container = asContainer(value);
    if (container !== undefined) {
      if (seen.has(container)) continue;
      seen.add(container);
      for (const child of Object.values(container)) stack.push(child);
    } else if (typeof value === 'string') {
      for (const e of stringEdits(value, remaining)) markFound(e.class);
    } else if (typeof value === 'number') {
      const f = numberFinding(String(value), remaining);
      if (f !== undefined) markFound(f.class);
    }
  }
  return found;

  function markFound(c: DataClass): void {
    found.add(c);
    remaining.delete(c);
  }
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
export function redactPayload<T>(payload: T, classes: ReadonlySet<DataClass>): Redacted<T> {
  let redactions = 0;
  const types = new Set<string>();
  let root: unknown = payload;
  const stack: Frame[] = [];
  const onPath = new Set<object>();

  const redactLeaf = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const edits = stringEdits(value, classes);
      if (edits.length === 0) return value;
      redactions += edits.length;
      for (const e of edits) types.add(e.type);
      return applyEdits(value, edits);
    }
    if (typeof value === 'number') {
      const f = numberFinding(String(value), classes);
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
      const redacted = redactLeaf(value);
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
