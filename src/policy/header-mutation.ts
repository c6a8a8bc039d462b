import { Codes, type DocPath, type ProblemSink } from './problems.js';
import type { HeaderMutation, HeaderMutationSpec, InjectSpec, SecretInjection } from './types.js';

const TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** Envoy refuses mutations of these (ENVOY.md: default mutation rules), so a policy may not ask for them. */
const PROTECTED = /^(host|:.*|x-envoy-.*)$/;
const BAD_VALUE = /[\r\n\0]/;

/** Checks one header name a policy changes; false (with the problem reported) when it may not. */
function checkName(name: string, where: DocPath, target: 'key' | 'value', sink: ProblemSink): boolean {
  if (PROTECTED.test(name.toLowerCase())) {
    sink.error(Codes.headers, `"${name}" cannot be changed: Envoy never lets an authorization service touch host, pseudo-headers or x-envoy-* headers`, where, undefined, target);
    return false;
  }
  if (!TOKEN.test(name)) {
    sink.error(Codes.headers, `"${name}" is not a valid header name (write header names in lower case)`, where, undefined, target);
    return false;
  }
  return true;
}

/** Validates and compiles a rule's `headers: {set, remove}`; names must be lower case. */
export function compileHeaderMutation(spec: HeaderMutationSpec, at: DocPath, sink: ProblemSink): HeaderMutation | undefined {
  let ok = true;
  const check = (name: string, where: DocPath, target: 'key' | 'value'): void => {
    if (!checkName(name, where, target, sink)) ok = false;
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

const VALUE = '{value}';

/**
 * Validates and compiles a rule's `inject` (one or a list). `format` must hold `{value}`
 * exactly once; the Secret's existence is checked where Secrets are loaded.
 */
export function compileInjections(spec: InjectSpec | InjectSpec[], at: DocPath, sink: ProblemSink): SecretInjection[] | undefined {
  const list = Array.isArray(spec) ? spec : [spec];
  const out: SecretInjection[] = [];
  const seen = new Set<string>();
  let ok = true;
  for (const [i, inj] of list.entries()) {
    const where = Array.isArray(spec) ? [...at, i] : at;
    if (!checkName(inj.header, [...where, 'header'], 'value', sink)) ok = false;
    else if (seen.has(inj.header)) {
      sink.error(Codes.headers, `"${inj.header}" is injected twice by this rule`, [...where, 'header']);
      ok = false;
    }
    seen.add(inj.header);
    const format = inj.format ?? VALUE;
    const at0 = format.indexOf(VALUE);
    if (at0 === -1 || format.indexOf(VALUE, at0 + 1) !== -1 || BAD_VALUE.test(format)) {
      sink.error(Codes.headers, `"format" must contain {value} exactly once and no line break or NUL`, [...where, 'format'], 'e.g. format: "Bearer {value}"');
      ok = false;
      continue;
    }
    out.push({ header: inj.header, secret: inj.secret, prefix: format.slice(0, at0), suffix: format.slice(at0 + VALUE.length) });
  }
  return ok ? out : undefined;
}

/**
 * Folds header changes in firing order: a later set, remove or inject of a header replaces
 * whatever an earlier rule did to it.
 */
export function mergeHeaderMutations(mutations: readonly HeaderMutation[]): { set: Record<string, string>; remove: string[]; inject: SecretInjection[] } {
  const set = new Map<string, string>();
  const remove = new Set<string>();
  const inject = new Map<string, SecretInjection>();
  for (const m of mutations) {
    for (const [k, v] of Object.entries(m.set)) {
      set.set(k, v);
      remove.delete(k);
      inject.delete(k);
    }
    for (const k of m.remove) {
      remove.add(k);
      set.delete(k);
      inject.delete(k);
    }
    for (const inj of m.inject ?? []) {
      inject.set(inj.header, inj);
      set.delete(inj.header);
      remove.delete(inj.header);
    }
  }
  return { set: Object.fromEntries(set), remove: [...remove], inject: [...inject.values()] };
}
