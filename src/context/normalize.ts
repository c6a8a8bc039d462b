import type { DecisionContext } from './types.js';

/**
 * Puts the fields policies match on into one spelling, so that `API.OpenAI.com.`,
 * `[2001:db8::1]` or `api.openai.com:443` cannot slip past a rule written for the plain form.
 * Returns the input itself when nothing needs changing (the common, hot case).
 */
export function normalizeContext(ctx: DecisionContext): DecisionContext {
  const dest = ctx.destination;
  const req = ctx.request;
  const host = dest?.host !== undefined ? splitHost(dest.host) : undefined;
  const sni = dest?.sni !== undefined ? normalizeHost(dest.sni) : undefined;
  const method = req?.method?.toUpperCase();
  const headers = req?.headers !== undefined && hasUpperCaseKey(req.headers) ? lowerCaseKeys(req.headers) : req?.headers;
  const destChanged = dest !== undefined && (host?.host !== dest.host || (host?.port !== undefined && dest.port === undefined) || sni !== dest.sni);
  const reqChanged = req !== undefined && (method !== req.method || headers !== req.headers);
  if (!destChanged && !reqChanged) return ctx;
  const out: DecisionContext = { ...ctx };
  if (destChanged && dest) {
    out.destination = { ...dest };
    if (host) {
      out.destination.host = host.host;
      if (out.destination.port === undefined && host.port !== undefined) out.destination.port = host.port;
    }
    if (sni !== undefined) out.destination.sni = sni;
  }
  if (reqChanged && req) {
    out.request = { ...req };
    if (method !== undefined) out.request.method = method;
    if (headers !== undefined) out.request.headers = headers;
  }
  return out;
}

/** Lower case, no trailing dots, no IPv6 brackets. */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  while (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** Splits `host:port` (and `[v6]:port`); a bare IPv6 literal keeps its colons. */
function splitHost(raw: string): { host: string; port?: number } {
  const v6 = /^\[([^\]]*)\](?::(\d{1,5}))?$/.exec(raw);
  if (v6) return withPort(normalizeHost(v6[1] as string), v6[2]);
  const colon = raw.lastIndexOf(':');
  if (colon !== -1 && raw.indexOf(':') === colon && /^\d{1,5}$/.test(raw.slice(colon + 1))) {
    return withPort(normalizeHost(raw.slice(0, colon)), raw.slice(colon + 1));
  }
  return { host: normalizeHost(raw) };
}

function withPort(host: string, port: string | undefined): { host: string; port?: number } {
  const n = port === undefined ? NaN : Number(port);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? { host, port: n } : { host };
}

function hasUpperCaseKey(headers: Record<string, string>): boolean {
  for (const k in headers) if (k !== k.toLowerCase()) return true;
  return false;
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  // Null prototype: a header named `__proto__` or `constructor` is just a header.
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(headers)) {
    const key = k.toLowerCase();
    out[key] = Object.hasOwn(out, key) ? `${out[key]},${v}` : v; // repeated headers join with ',' as Envoy does
  }
  return out;
}
