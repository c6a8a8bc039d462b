import { compileStringMatcher } from './header-map.js';
import type { EnvoyHeaderMap, StringMatch } from './header-map.js';
import type { ExtAuthzSettings } from './settings.js';

/**
 * The CheckRequest Envoy's ext_authz HTTP filter sends, built as a plain object with the proto
 * field names (the gRPC codec serialises it). Mirrors
 * `source/extensions/filters/common/ext_authz/check_request_utils.cc` (createHttpCheck,
 * setAttrContextPeer, setHttpRequest) as called from `Filter::initiateCall` in
 * `source/extensions/filters/http/ext_authz/ext_authz.cc`.
 */

export interface SocketAddress {
  readonly address: string;
  readonly port: number;
}

export interface StreamFacts {
  /** `StreamDecoderFilterCallbacks::streamId()`: a random uint64 in decimal, not x-request-id. */
  readonly streamId: string;
  /** StreamInfo::startTime(): when the first byte of the request arrived. */
  readonly startTime: Date;
  /** Downstream peer (connection remote address). */
  readonly source: SocketAddress;
  /** Connection local address: the original destination behind `original_dst`. */
  readonly destination: SocketAddress;
  /** StreamInfo::protocol() as Http::Utility::getProtocolString ("HTTP/1.1", "HTTP/1.0"). */
  readonly protocol: string;
  /** StreamInfo::bytesReceived(): body bytes received before the check started. */
  readonly bytesReceived: number;
  /** decodingBuffer(): the buffered body when the filter buffered (with_request_body), else undefined. */
  readonly decodingBuffer: Buffer | undefined;
  /** Max request bytes in force for this stream (0 when with_request_body is not configured). */
  readonly maxRequestBytes: number;
}

/**
 * MessageUtil::sanitizeUtf8String: valid UTF-8 sequences are kept, every byte that does not
 * start a valid sequence becomes "!".
 */
export function sanitizeUtf8(bytes: Buffer): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const len = validUtf8SequenceLength(bytes, i);
    if (len === 0) {
      out += '!';
      i += 1;
    } else {
      out += bytes.toString('utf8', i, i + len);
      i += len;
    }
  }
  return out;
}

function validUtf8SequenceLength(b: Buffer, i: number): number {
  const c0 = b[i] ?? 0;
  if (c0 < 0x80) return 1;
  const cont = (k: number): boolean => {
    const c = b[i + k];
    return c !== undefined && (c & 0xc0) === 0x80;
  };
  const c1 = b[i + 1] ?? 0;
  if (c0 >= 0xc2 && c0 <= 0xdf) return cont(1) ? 2 : 0;
  if (c0 >= 0xe0 && c0 <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (c0 === 0xe0 && c1 < 0xa0) return 0; // overlong
    if (c0 === 0xed && c1 >= 0xa0) return 0; // surrogates
    return 3;
  }
  if (c0 >= 0xf0 && c0 <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c0 === 0xf0 && c1 < 0x90) return 0; // overlong
    if (c0 === 0xf4 && c1 >= 0x90) return 0; // > U+10FFFF
    return 4;
  }
  return 0;
}

/** Header values in the harness's map are byte strings (latin1), as node:http hands them over. */
function valueBytes(v: string): Buffer {
  return Buffer.from(v, 'latin1');
}

function socketAddress(a: SocketAddress): Record<string, unknown> {
  // Network::Utility::addressToProtobufAddress: IP addresses become socket_address with
  // address and port_value (protocol TCP is the default, 0, so it is not on the wire).
  return { socket_address: { address: a.address, port_value: a.port } };
}

export interface HeaderMatchers {
  readonly allowed: StringMatch | undefined;
  readonly disallowed: StringMatch | undefined;
}

/**
 * FilterConfig: for a gRPC service, allowed_headers (when set) limits the headers sent, with no
 * headers added implicitly (toRequestMatchers(..., add_http_headers = false));
 * disallowed_headers wins over allowed_headers.
 */
export function headerMatchers(s: ExtAuthzSettings): HeaderMatchers {
  const any = (ms: readonly StringMatch[]): StringMatch => (k) => ms.some((m) => m(k));
  return {
    allowed: s.allowedHeaders === undefined ? undefined : any(s.allowedHeaders.map(compileStringMatcher)),
    disallowed: s.disallowedHeaders === undefined ? undefined : any(s.disallowedHeaders.map(compileStringMatcher)),
  };
}

export function buildCheckRequest(
  s: ExtAuthzSettings,
  matchers: HeaderMatchers,
  headers: EnvoyHeaderMap,
  facts: StreamFacts,
  contextExtensions: Readonly<Record<string, string>>,
): Record<string, unknown> {
  const first = (k: string): string => {
    const v = headers.first(k);
    return v === undefined ? '' : sanitizeUtf8(valueBytes(v));
  };

  // setHttpRequest
  const http: Record<string, unknown> = {
    id: facts.streamId,
    method: first(':method'),
    path: first(':path'),
    host: first(':authority'),
    scheme: first(':scheme'),
  };
  // proto3 scalars equal to their default are not on the wire; size is bytesReceived, which
  // is 0 when the check starts at decodeHeaders (no buffering), not content-length and not -1.
  if (facts.bytesReceived !== 0) http['size'] = String(facts.bytesReceived);
  http['protocol'] = facts.protocol;

  const map: Record<string, string> = {};
  const raw: { key: string; raw_value: Buffer }[] = [];
  for (const [key, value] of headers.list()) {
    // "Skip any client EnvoyAuthPartialBody header, which could interfere with internal use."
    if (key === 'x-envoy-auth-partial-body') continue;
    if (matchers.disallowed?.(key) === true) continue;
    if (matchers.allowed !== undefined && !matchers.allowed(key)) continue;
    if (s.encodeRawHeaders) {
      raw.push({ key, raw_value: valueBytes(value) });
    } else {
      const sanitized = sanitizeUtf8(valueBytes(value));
      // "Merge duplicate headers." with ","
      map[key] = key in map ? `${map[key]},${sanitized}` : sanitized;
    }
  }

  // "Set request body." only when the filter buffered and max_request_bytes > 0.
  if (facts.maxRequestBytes > 0 && facts.decodingBuffer !== undefined) {
    const buf = facts.decodingBuffer;
    const length = Math.min(buf.length, facts.maxRequestBytes);
    const data = buf.subarray(0, length);
    if (data.length > 0) {
      if (s.withRequestBody?.packAsBytes === true) http['raw_body'] = Buffer.from(data);
      else http['body'] = sanitizeUtf8(data);
    }
    // "Add in a header to detect when a partial body is used."
    const partial = length !== buf.length ? 'true' : 'false';
    if (s.encodeRawHeaders) raw.push({ key: 'x-envoy-auth-partial-body', raw_value: Buffer.from(partial) });
    else map['x-envoy-auth-partial-body'] = partial;
  }
  if (s.encodeRawHeaders) http['header_map'] = { headers: raw };
  else http['headers'] = map;

  // setAttrContextPeer(source): remote address; service from x-envoy-downstream-service-cluster.
  const source: Record<string, unknown> = { address: socketAddress(facts.source) };
  const service = first('x-envoy-downstream-service-cluster');
  if (service !== '') source['service'] = service;
  // setAttrContextPeer(destination): local address; labels from the bootstrap node metadata.
  const destination: Record<string, unknown> = { address: socketAddress(facts.destination) };
  if (Object.keys(s.destinationLabels).length > 0) destination['labels'] = { ...s.destinationLabels };

  const ms = facts.startTime.getTime();
  const attributes: Record<string, unknown> = {
    source,
    destination,
    // setRequestTime: StreamInfo::startTime() as a Timestamp.
    request: { time: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 }, http },
    // createHttpCheck always moves these in; the harness has no dynamic or route metadata
    // sources, so both are present and empty (an empty message is still on the wire).
    metadata_context: {},
    route_metadata_context: {},
  };
  // include_tls_session: mutable_tls_session() makes the message present; sni stays empty on a
  // plain-text connection (no SSL info, no requested server name).
  if (s.includeTlsSession) attributes['tls_session'] = {};
  if (Object.keys(contextExtensions).length > 0) attributes['context_extensions'] = { ...contextExtensions };
  return { attributes };
}
