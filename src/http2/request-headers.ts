import { ErrorCode, Http2Error } from './frames.js';

/**
 * A request's header fields, by lower-case name, with no prototype (a field named `__proto__`
 * is just a field). A repeated field's values are joined with ", " (RFC 9110 §5.3), `cookie`'s
 * with "; " (RFC 9113 §8.2.3).
 */
export type RequestHeaders = Readonly<Record<string, string>>;

const PSEUDO = new Set([':method', ':scheme', ':path', ':authority']);
/** Every request carries these (CONNECT, which may not, is not served). */
const REQUIRED = [':method', ':scheme', ':path'] as const;
/** Connection-specific fields, which HTTP/2 forbids (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** tchar (RFC 9110 §5.6.2) without upper-case letters: what a field name may hold in HTTP/2. */
const NAME_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_CHAR[c.charCodeAt(0)] = 1;

/**
 * Checks a decoded request header list (names and values alternating) as RFC 9113 §8.2–8.3.1
 * requires and returns it as RequestHeaders. A malformed request is a stream error
 * (PROTOCOL_ERROR) naming the field and the rule. `trailers`: a trailer section, which carries
 * no pseudo-header fields.
 */
export function requestHeaders(fields: readonly string[], streamId: number, trailers = false): RequestHeaders {
  const out = Object.create(null) as Record<string, string>;
  let regularSeen = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i] as string;
    const value = fields[i + 1] as string;
    if (name.charCodeAt(0) === 0x3a) {
      if (trailers) throw malformed(streamId, `pseudo-header field "${name}" in trailers`);
      if (regularSeen) throw malformed(streamId, `pseudo-header field "${name}" after a regular field`);
      if (!PSEUDO.has(name)) throw malformed(streamId, `unknown pseudo-header field "${name}"`);
      if (out[name] !== undefined) throw malformed(streamId, `pseudo-header field "${name}" repeated`);
      checkValue(name, value, streamId);
      out[name] = value;
      continue;
    }
    regularSeen = true;
    checkName(name, streamId);
    checkValue(name, value, streamId);
    if (CONNECTION_SPECIFIC.has(name)) throw malformed(streamId, `connection-specific field "${name}"`);
    if (name === 'te' && value !== 'trailers') throw malformed(streamId, `field "te" may only be "trailers", not "${value}"`);
    const before = out[name];
    out[name] = before === undefined ? value : `${before}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  if (!trailers) {
    for (const required of REQUIRED) if (out[required] === undefined) throw malformed(streamId, `pseudo-header field "${required}" missing`);
    if (out[':path'] === '') throw malformed(streamId, 'pseudo-header field ":path" is empty');
  }
  return out;
}

function checkName(name: string, streamId: number): void {
  if (name.length === 0) throw malformed(streamId, 'empty field name');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || NAME_CHAR[c] !== 1) throw malformed(streamId, `field name "${name}" has ${c >= 0x41 && c <= 0x5a ? 'an upper-case letter' : `the character 0x${c.toString(16)}`} at ${i}`);
  }
}

/** RFC 9113 §8.2.1: no NUL, CR or LF anywhere, no whitespace at either end. */
function checkValue(name: string, value: string, streamId: number): void {
  const n = value.length;
  if (n === 0) return;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) throw malformed(streamId, `field "${name}" has whitespace at the start or end of its value`);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) throw malformed(streamId, `field "${name}" has the character 0x${c.toString(16)} in its value at ${i}`);
  }
}

function malformed(streamId: number, why: string): Http2Error {
  return new Http2Error(ErrorCode.PROTOCOL_ERROR, `malformed request: ${why}`, streamId);
}
