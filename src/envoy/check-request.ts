import type { HttpRequestInfo } from '../context/http-request.js';

/**
 * The parts of `envoy.service.auth.v3.CheckRequest` we read, as @grpc/proto-loader decodes
 * them (proto field names, oneof names as virtual fields, int64 as strings, bytes as Buffer).
 * Field meanings: ENVOY.md and Envoy's check_request_utils.cc.
 */
interface SocketAddress {
  address?: string;
  port_value?: number;
}
interface Peer {
  address?: { socket_address?: SocketAddress };
  principal?: string;
  /** For network checks: the node metadata map named by `bootstrap_metadata_labels_key`. */
  labels?: Record<string, string>;
}
interface HttpAttrs {
  id?: string;
  method?: string;
  headers?: Record<string, string>;
  header_map?: { headers?: { key?: string; value?: string; raw_value?: Buffer }[] };
  path?: string;
  host?: string;
  scheme?: string;
  protocol?: string;
  body?: string;
  raw_body?: Buffer;
}
export interface CheckRequestMessage {
  attributes?: {
    source?: Peer;
    destination?: Peer;
    request?: { http?: HttpAttrs };
    context_extensions?: Record<string, string>;
    tls_session?: { sni?: string };
  };
}

export type ParsedCheck =
  | { kind: 'http'; request: HttpRequestInfo; extensions: Record<string, string> | undefined; principal: string | undefined }
  | {
      kind: 'network';
      sni: string | undefined;
      address: string | undefined;
      port: number | undefined;
      extensions: Record<string, string> | undefined;
      principal: string | undefined;
    }
  | { kind: 'malformed'; why: string };

/** Set by our egress-gateway config: the destination address is the proxy's own, not the upstream's. */
export const DESTINATION_IS_PROXY = 'destination-is-proxy';

/** Sorts a CheckRequest into an HTTP request or a network connection; anything else is malformed. */
export function parseCheckRequest(msg: CheckRequestMessage | undefined): ParsedCheck {
  const attrs = msg?.attributes;
  if (attrs === undefined || attrs === null) return { kind: 'malformed', why: 'the CheckRequest has no attributes' };
  // The network filter has no per-route settings: our configs put the identity map in the
  // node metadata, which Envoy sends as the destination's labels.
  const extensions = attrs.request?.http ? attrs.context_extensions : { ...attrs.destination?.labels, ...attrs.context_extensions };
  const principal = attrs.source?.principal || undefined;
  const dest = attrs.destination?.address?.socket_address;
  const destIsProxy = extensions?.[DESTINATION_IS_PROXY] === 'true';
  const http = attrs.request?.http;
  if (http !== undefined && http !== null) {
    const headers = headersOf(http);
    const method = http.method || headers[':method'];
    const authority = http.host || headers[':authority'] || headers.host;
    const path = http.path || headers[':path'];
    if (!method) return { kind: 'malformed', why: 'the HTTP request has no method' };
    if (!authority) return { kind: 'malformed', why: 'the HTTP request has no host (:authority)' };
    if (!path) return { kind: 'malformed', why: 'the HTTP request has no path' };
    const body = http.raw_body && http.raw_body.length > 0 ? http.raw_body.toString('utf8') : http.body || undefined;
    return {
      kind: 'http',
      request: {
        method,
        path,
        authority,
        headers,
        ...(http.scheme ? { scheme: http.scheme } : {}),
        ...(!destIsProxy && dest?.address ? { destinationAddress: dest.address } : {}),
        ...(!destIsProxy && dest?.port_value ? { destinationPort: dest.port_value } : {}),
        ...(attrs.tls_session?.sni ? { sni: attrs.tls_session.sni } : {}),
        ...(body !== undefined ? { body } : {}),
      },
      extensions,
      principal,
    };
  }
  const sni = attrs.tls_session?.sni || undefined;
  if (sni === undefined && !dest?.address) return { kind: 'malformed', why: 'the CheckRequest names neither an HTTP request nor a destination' };
  return { kind: 'network', sni, address: dest?.address || undefined, port: dest?.port_value || undefined, extensions, principal };
}

/** `headers` (a map), or `header_map` when Envoy sends raw headers (`encode_raw_headers`). */
function headersOf(http: HttpAttrs): Record<string, string> {
  const list = http.header_map?.headers;
  if (list === undefined || list.length === 0) return http.headers ?? {};
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const h of list) {
    if (!h.key) continue;
    const key = h.key.toLowerCase();
    const value = h.raw_value && h.raw_value.length > 0 ? h.raw_value.toString('utf8') : (h.value ?? '');
    out[key] = Object.hasOwn(out, key) ? `${out[key]},${value}` : value;
  }
  return out;
}
