import type { HeaderMapMessage } from './messages.js';

/**
 * Header maps in and header mutations out, as Envoy's ext_proc filter reads them
 * (mutation_utils.cc): Envoy sends `{key, raw_value}` with lower-case keys and pseudo-headers;
 * it reads only `raw_value` from a mutation (a mutation with just `value` does nothing).
 */

/** Lower-case names → values; repeated headers joined with ',' (as ext_authz sends them). */
export function headersFromMap(map: HeaderMapMessage | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const h of map?.headers ?? []) {
    if (typeof h.key !== 'string' || h.key === '') continue;
    const key = h.key.toLowerCase();
    const raw = h.raw_value;
    const value = raw !== undefined && raw.length > 0 ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8') : (h.value ?? '');
    out[key] = Object.hasOwn(out, key) ? `${out[key]},${value}` : value;
  }
  return out;
}

/**
 * Headers the default mutation rules block (HeaderMutationRules with allow_all_routing and
 * allow_envoy unset): setting them is ignored, or a 500 with `disallow_is_error`.
 */
function setForbidden(name: string): boolean {
  return name === 'host' || name === ':authority' || name === ':method' || name === ':scheme' || name.startsWith('x-envoy-');
}

/** Removing a pseudo-header or `host` is never allowed, whatever the rules. */
function removeForbidden(name: string): boolean {
  return name.startsWith(':') || setForbidden(name);
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export interface HeaderChanges {
  readonly set?: Readonly<Record<string, string>>;
  readonly remove?: readonly string[];
}

/**
 * `envoy.service.ext_proc.v3.HeaderMutation` from changes we want, dropping anything Envoy
 * would refuse (forbidden or invalid names, invalid values) so that no mutation of ours can
 * turn into an ignored change or a 500. Values go in `raw_value` (bytes), `append: false` (= set, ENVOY.md).
 */
export function headerMutation(changes: HeaderChanges | undefined): Record<string, unknown> | undefined {
  if (changes === undefined) return undefined;
  const set_headers: Record<string, unknown>[] = [];
  for (const [k, v] of Object.entries(changes.set ?? {})) {
    const key = k.toLowerCase();
    if (!TOKEN.test(key) || setForbidden(key) || !FIELD_VALUE.test(v)) continue;
    set_headers.push({ header: { key, raw_value: Buffer.from(v, 'latin1') }, append: { value: false } });
  }
  const remove_headers = (changes.remove ?? []).map((k) => k.toLowerCase()).filter((k) => TOKEN.test(k) && !removeForbidden(k));
  if (set_headers.length === 0 && remove_headers.length === 0) return undefined;
  return { ...(set_headers.length > 0 ? { set_headers } : {}), ...(remove_headers.length > 0 ? { remove_headers } : {}) };
}
