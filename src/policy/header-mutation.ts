import { Codes, type DocPath, type ProblemSink } from './problems.js';
import type { HeaderMutation, HeaderMutationSpec } from './types.js';

const TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** Envoy refuses mutations of these (ENVOY.md: default mutation rules), so a policy may not ask for them. */
const PROTECTED = /^(host|:.*|x-envoy-.*)$/;
const BAD_VALUE = /[\r\n\0]/;

/** Validates and compiles a rule's `headers: {set, remove}`; names must be lower case. */
export function compileHeaderMutation(spec: HeaderMutationSpec, at: DocPath, sink: ProblemSink): HeaderMutation | undefined {
  let ok = true;
  const check = (name: string, where: DocPath, target: 'key' | 'value'): void => {
    if (PROTECTED.test(name.toLowerCase())) {
      sink.error(Codes.headers, `"${name}" cannot be changed: Envoy never lets an authorization service touch host, pseudo-headers or x-envoy-* headers`, where, undefined, target);
      ok = false;
    } else if (!TOKEN.test(name)) {
      sink.error(Codes.headers, `"${name}" is not a valid header name (write header names in lower case)`, where, undefined, target);
      ok = false;
    }
  };
  for (const [name, value] of Object.entries(spec.set ?? {})) {
    check(name, [...at, 'set', name], 'key');
    if (BAD_VALUE.test(value)) {
      sink.error(Codes.headers, `the value of "${name}" contains a line break or NUL`, [...at, 'set', name]);
      ok = false;
    }
  }
  for (const [i, name] of (spec.remove ?? []).entries()) check(name, [...at, 'remove', i], 'value');
  return ok ? { set: { ...(spec.set ?? {}) }, remove: [...(spec.remove ?? [])] } : undefined;
}

/** Folds header changes in firing order: a later set replaces an earlier remove, and vice versa. */
export function mergeHeaderMutations(mutations: readonly HeaderMutation[]): { set: Record<string, string>; remove: string[] } {
  const set = new Map<string, string>();
  const remove = new Set<string>();
  for (const m of mutations) {
    for (const [k, v] of Object.entries(m.set)) {
      set.set(k, v);
      remove.delete(k);
    }
    for (const k of m.remove) {
      remove.add(k);
      set.delete(k);
    }
  }
  return { set: Object.fromEntries(set), remove: [...remove] };
}
