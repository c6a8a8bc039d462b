import { RE2JS } from 're2js';
import type { JsonObject } from './proto-json.js';

/**
 * Envoy's request header map, as far as ext_authz can observe it
 * (`source/common/http/header_map_impl.cc`): lower-case keys, an ordered list of entries,
 * duplicates allowed, and the HTTP/1 `host` header stored as `:authority` (the static lookup
 * table maps `host` to the `:authority` inline header, so setting `host` sets `:authority`).
 */
export class EnvoyHeaderMap {
  private entries: [string, string][] = [];

  static key(name: string): string {
    const k = name.toLowerCase();
    return k === 'host' ? ':authority' : k;
  }

  /** Entries in order (pseudo-headers first, as Envoy keeps them). */
  list(): readonly (readonly [string, string])[] {
    const pseudo = this.entries.filter(([k]) => k.startsWith(':'));
    const rest = this.entries.filter(([k]) => !k.startsWith(':'));
    return [...pseudo, ...rest];
  }

  get(name: string): string[] {
    const k = EnvoyHeaderMap.key(name);
    return this.entries.filter(([e]) => e === k).map(([, v]) => v);
  }

  first(name: string): string | undefined {
    return this.get(name)[0];
  }

  has(name: string): boolean {
    return this.get(name).length > 0;
  }

  /** HeaderMapImpl::addCopy: a new entry, keeping existing ones. */
  add(name: string, value: string): void {
    this.entries.push([EnvoyHeaderMap.key(name), value]);
  }

  /** HeaderMapImpl::setCopy: removes every entry with the key, then adds one. */
  set(name: string, value: string): void {
    this.remove(name);
    this.add(name, value);
  }

  /**
   * HeaderMapImpl::appendCopy: appends to the first existing entry with "," (cookie: "; "),
   * or adds an entry when there is none. (ext_authz only calls it when the header exists.)
   */
  append(name: string, value: string): void {
    const k = EnvoyHeaderMap.key(name);
    const entry = this.entries.find(([e]) => e === k);
    if (entry === undefined) {
      this.add(k, value);
      return;
    }
    const delimiter = k === 'cookie' ? '; ' : ',';
    entry[1] = entry[1] === '' ? value : `${entry[1]}${delimiter}${value}`;
  }

  remove(name: string): void {
    const k = EnvoyHeaderMap.key(name);
    this.entries = this.entries.filter(([e]) => e !== k);
  }

  clone(): EnvoyHeaderMap {
    const c = new EnvoyHeaderMap();
    c.entries = this.entries.map(([k, v]) => [k, v]);
    return c;
  }
}

// --- validity (`source/common/http/header_utility.cc`) -------------------------------------

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * HeaderUtility::headerNameIsValid: pseudo-headers use HTTP/2 rules (lower-case token after
 * the colon, nghttp2_check_header_name); others HTTP/1 token rules (upper case allowed).
 */
export function headerNameIsValid(name: string): boolean {
  if (name.startsWith(':')) {
    const rest = name.slice(1);
    return rest.length > 0 && TCHAR.test(rest) && rest === rest.toLowerCase();
  }
  return TCHAR.test(name);
}

/**
 * HeaderUtility::headerValueIsValid → nghttp2_check_header_value: HTAB, 0x20-0x7E and
 * 0x80-0xFF (any non-ASCII UTF-8 byte); NUL, CR, LF, other controls and DEL are invalid.
 */
export function headerValueIsValid(value: string): boolean {
  for (const byte of Buffer.from(value, 'utf8')) {
    if (byte === 0x09) continue;
    if (byte < 0x20 || byte === 0x7f) return false;
  }
  return true;
}

/** HeaderUtility::isRemovableHeader / isModifiableHeader: never `:`-prefixed, never `host`. */
export function isRemovableHeader(name: string): boolean {
  return !name.startsWith(':') && name.toLowerCase() !== 'host';
}

// --- HeaderMutationRules (`source/extensions/filters/common/mutation_rules/mutation_rules.cc`) --

export type CheckOperation = 'SET' | 'APPEND' | 'REMOVE';
export type CheckResult = 'OK' | 'IGNORE' | 'FAIL';

const EXTRA_ROUTING_HEADERS = new Set(['host', ':authority', ':method', ':scheme']);

function wrapped(rules: JsonObject, key: string): boolean {
  return rules[key] === true;
}

function compileRegexMatcher(m: unknown): RE2JS | undefined {
  if (typeof m !== 'object' || m === null) return undefined;
  const regex = (m as Record<string, unknown>)['regex'];
  return typeof regex === 'string' ? RE2JS.compile(regex) : undefined;
}

/** Filters::Common::MutationRules::Checker, with the same defaults and order of tests. */
export class MutationRulesChecker {
  private readonly allow: RE2JS | undefined;
  private readonly disallow: RE2JS | undefined;

  constructor(private readonly rules: JsonObject) {
    this.allow = compileRegexMatcher(rules['allow_expression']);
    this.disallow = compileRegexMatcher(rules['disallow_expression']);
  }

  check(op: CheckOperation, name: string, value: string): CheckResult {
    const key = name.toLowerCase();
    if (this.isAllowed(op, key) && (op === 'REMOVE' || this.isValidValue(key, value))) return 'OK';
    return wrapped(this.rules, 'disallow_is_error') ? 'FAIL' : 'IGNORE';
  }

  private isAllowed(op: CheckOperation, key: string): boolean {
    // "No matter what, you can't remove the host or any : headers."
    if (op === 'REMOVE' && !isRemovableHeader(key)) return false;
    // RE2 full match, as Envoy's Regex::CompiledGoogleReMatcher::match.
    if (this.disallow?.matches(key) === true) return false;
    if (this.allow?.matches(key) === true) return true;
    if (wrapped(this.rules, 'disallow_all')) return false;
    if (!wrapped(this.rules, 'allow_all_routing') && EXTRA_ROUTING_HEADERS.has(key)) return false;
    if (key.startsWith(':') && (op === 'APPEND' || wrapped(this.rules, 'disallow_system'))) return false;
    if (!wrapped(this.rules, 'allow_envoy') && key.startsWith('x-envoy')) return false;
    return true;
  }

  private isValidValue(key: string, value: string): boolean {
    if (!key.startsWith(':') && !headerValueIsValid(value)) return false;
    // HeaderUtility::authorityIsValid: RFC 3986 authority characters only.
    if ((key === ':authority' || key === 'host') && !/^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]+$/.test(value)) return false;
    if (key === ':scheme' && value !== 'http' && value !== 'https') return false;
    if (key === ':status') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 200) return false;
    }
    return true;
  }
}

// --- StringMatcher (`envoy/type/matcher/v3/string.proto`), for allowed/disallowed_headers ----

export type StringMatch = (s: string) => boolean;

export function compileStringMatcher(m: JsonObject): StringMatch {
  const ignoreCase = m['ignore_case'] === true;
  const norm = (s: string): string => (ignoreCase ? s.toLowerCase() : s);
  const str = (k: string): string | undefined => (typeof m[k] === 'string' ? norm(m[k] as string) : undefined);
  const exact = str('exact');
  if (exact !== undefined) return (s) => norm(s) === exact;
  const prefix = str('prefix');
  if (prefix !== undefined) return (s) => norm(s).startsWith(prefix);
  const suffix = str('suffix');
  if (suffix !== undefined) return (s) => norm(s).endsWith(suffix);
  const contains = str('contains');
  if (contains !== undefined) return (s) => norm(s).includes(contains);
  const re = compileRegexMatcher(m['safe_regex']);
  if (re !== undefined) return (s) => re.matches(s);
  throw new Error(`unsupported StringMatcher ${JSON.stringify(m)}`);
}
