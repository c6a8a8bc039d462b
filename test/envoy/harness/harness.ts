import { randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { envoyServices } from '../../../src/envoy/protos.js';
import { buildCheckRequest, headerMatchers, sanitizeUtf8 } from './check-request.js';
import type { HeaderMatchers, SocketAddress } from './check-request.js';
import { EnvoyHeaderMap, headerNameIsValid, headerValueIsValid, isRemovableHeader, MutationRulesChecker } from './header-map.js';
import type { CheckOperation, CheckResult } from './header-map.js';
import { ExtProcFilter } from './ext-proc.js';
import type { ExtProcRecord } from './ext-proc.js';
import { enumNumber, structToJson } from './proto-json.js';
import type { JsonObject } from './proto-json.js';
import { harnessSettingsFromBootstrap, parseBufferSettings } from './settings.js';
import type { HarnessSettings, RouteSettings, VirtualHostSettings } from './settings.js';

/**
 * Plays Envoy's sidecar listener with the ext_authz HTTP filter (gRPC client) followed by the
 * router, over real HTTP/1.1 on 127.0.0.1. Behaviour follows, and cites:
 *  - source/extensions/filters/http/ext_authz/ext_authz.cc            (the filter)
 *  - source/extensions/filters/common/ext_authz/ext_authz_grpc_impl.cc (CheckResponse → Response)
 *  - source/extensions/filters/common/ext_authz/check_request_utils.cc (CheckRequest)
 *  - source/common/http/conn_manager_utility.cc                         (HCM header mutations)
 *  - source/common/http/utility.cc (sendLocalReply), source/common/router/router.cc
 */

export interface UpstreamAddress {
  readonly host: string;
  readonly port: number;
}

export interface HarnessOptions {
  /** Parsed Envoy bootstrap (YAML/JSON object); or give `settings`. */
  readonly bootstrap?: unknown;
  readonly settings?: HarnessSettings;
  /** gRPC target of the gateway's Authorization service, e.g. "127.0.0.1:50051". */
  readonly gateway: string;
  /**
   * Original destinations, keyed by the request's :authority ("host" or "host:port"). A
   * transparent sidecar forwards to the address the client dialled; the harness looks that
   * address up here (exact authority, then host without port, then "host:80").
   */
  readonly upstreams?: Readonly<Record<string, UpstreamAddress>>;
  /** gRPC target of the ext_proc server, when it is not `gateway` (both share one cluster in our configs). */
  readonly extProcGateway?: string;
}

export type CheckStatus = 'OK' | 'Denied' | 'Error';

export interface ExchangeResponse {
  readonly status: number;
  /** Headers the harness sent to the client, before node:http adds date/connection. */
  readonly headers: readonly (readonly [string, string])[];
  /** True for replies Envoy generates itself (sendLocalReply). */
  readonly local: boolean;
  /** StreamInfo response code details, as in Envoy's access log (%RESPONSE_CODE_DETAILS%). */
  readonly details: string;
  /** The body of a local reply. */
  readonly body?: string;
}

export interface UpstreamRequestRecord {
  /** The original destination the sidecar would have connected to. */
  readonly address: string;
  readonly port: number;
  readonly method: string;
  readonly path: string;
  /** Headers as sent (host first), excluding the `connection` header node:http adds. */
  readonly headers: readonly (readonly [string, string])[];
}

export interface ExtAuthzExchange {
  readonly streamId: string;
  readonly downstream: {
    readonly method: string;
    readonly url: string;
    readonly rawHeaders: readonly (readonly [string, string])[];
    readonly source: SocketAddress;
  };
  route: string | undefined;
  /** Why no Check was made, when none was. */
  checkSkipped?: 'no_route' | 'per_route_disabled' | 'filter_disabled' | 'request_payload_too_large';
  /** The CheckRequest as the gateway decodes it off the wire. */
  checkRequest?: Record<string, unknown>;
  /** The CheckResponse as decoded by the harness. */
  checkResponse?: Record<string, unknown>;
  /** The gRPC failure, when the call failed (onFailure). */
  checkError?: { readonly code: number; readonly codeName: string; readonly details: string };
  checkStatus?: CheckStatus;
  /** Dynamic metadata stored in namespace EXT_AUTHZ_METADATA_NAMESPACE, as JSON. */
  dynamicMetadata?: JsonObject;
  upstreamReached: boolean;
  upstream?: UpstreamRequestRecord;
  /** The ext_proc stream of this request, when the filter ran. */
  extProc?: ExtProcRecord;
  response?: ExchangeResponse;
  /** Set when the harness itself failed (a bug in the harness or the test). */
  harnessError?: string;
  /** Resolves when the response to the client has been written. */
  readonly finished: Promise<void>;
}

/** Where Filter::onComplete stores CheckResponse.dynamic_metadata (setDynamicMetadata). */
export const EXT_AUTHZ_METADATA_NAMESPACE = 'envoy.filters.http.ext_authz';

/** conn_manager_utility.cc cleanInternalHeaders (non-edge request): always removed. */
const INTERNAL_ONLY_HEADERS = [
  'x-envoy-retriable-status-codes',
  'x-envoy-retriable-header-names',
  'x-envoy-retry-on',
  'x-envoy-retry-grpc-on',
  'x-envoy-max-retries',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-timeout-ms',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-force-trace',
  'x-envoy-ip-tags',
  'x-envoy-original-url',
  'x-envoy-hedge-on-per-try-timeout',
];

/** JS (UTF-8) string from the auth server → byte string stored in the header map. */
function toByteString(v: string): string {
  return Buffer.from(v, 'utf8').toString('latin1');
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function grpcCodeName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? String(code);
}

/** One header mutation from a CheckResponse (HeaderValueOption: only header.key/value are read). */
interface Mutation {
  readonly key: string;
  readonly value: string;
}

/** ext_authz_grpc_impl.cc: the Response the gRPC client hands to Filter::onComplete. */
interface AuthzResponse {
  status: CheckStatus;
  statusCode: number;
  headersToSet: Mutation[];
  headersToAppend: Mutation[];
  headersToRemove: string[];
  responseHeadersToAdd: Mutation[];
  responseHeadersToSet: Mutation[];
  responseHeadersToAddIfAbsent: Mutation[];
  responseHeadersToOverwriteIfExists: Mutation[];
  queryParametersToSet: Mutation[];
  queryParametersToRemove: string[];
  body: string;
  dynamicMetadata: JsonObject;
}

function emptyResponse(status: CheckStatus): AuthzResponse {
  return {
    status,
    statusCode: 403,
    headersToSet: [],
    headersToAppend: [],
    headersToRemove: [],
    responseHeadersToAdd: [],
    responseHeadersToSet: [],
    responseHeadersToAddIfAbsent: [],
    responseHeadersToOverwriteIfExists: [],
    queryParametersToSet: [],
    queryParametersToRemove: [],
    body: '',
    dynamicMetadata: {},
  };
}

function headerOf(o: unknown): Mutation {
  const h = isObj(o) && isObj(o['header']) ? o['header'] : {};
  // HeaderValue.raw_value is not read by ext_authz: header().value() only.
  return { key: typeof h['key'] === 'string' ? h['key'] : '', value: typeof h['value'] === 'string' ? h['value'] : '' };
}

/** BoolValue `append`: has_append() and append().value(). */
function appendOf(o: unknown): { has: boolean; value: boolean } {
  if (!isObj(o) || !isObj(o['append'])) return { has: false, value: false };
  return { has: true, value: o['append']['value'] === true };
}

function list(o: unknown, k: string): unknown[] {
  return isObj(o) && Array.isArray(o[k]) ? (o[k] as unknown[]) : [];
}

/**
 * GrpcClientImpl::onSuccess: status.code == OK → OK (with ok_response mutations); any other
 * code → Denied, 403 unless denied_response.status.code > 0.
 */
function toAuthzResponse(r: Record<string, unknown>): AuthzResponse {
  const status = isObj(r['status']) ? r['status'] : undefined;
  const code = status === undefined ? 0 : Number(status['code'] ?? 0);
  const out = emptyResponse(code === 0 ? 'OK' : 'Denied');
  // copyHeaderFieldIntoResponse: append.value() true → headers_to_append, else headers_to_set.
  // append_action is not consulted for request headers.
  const copyHeaders = (hs: unknown[]): void => {
    for (const h of hs) (appendOf(h).value ? out.headersToAppend : out.headersToSet).push(headerOf(h));
  };
  if (out.status === 'OK') {
    const ok = r['ok_response'];
    if (isObj(ok)) {
      copyHeaders(list(ok, 'headers'));
      // copyOkResponseMutations: response_headers_to_add honours append if set, else append_action.
      for (const h of list(ok, 'response_headers_to_add')) {
        const a = appendOf(h);
        const m = headerOf(h);
        if (a.has) (a.value ? out.responseHeadersToAdd : out.responseHeadersToSet).push(m);
        else {
          const action = isObj(h) ? h['append_action'] : undefined;
          if (action === 'ADD_IF_ABSENT' || action === 1) out.responseHeadersToAddIfAbsent.push(m);
          else if (action === 'OVERWRITE_IF_EXISTS' || action === 3) out.responseHeadersToOverwriteIfExists.push(m);
          else if (action === 'OVERWRITE_IF_EXISTS_OR_ADD' || action === 2) out.responseHeadersToSet.push(m);
          else out.responseHeadersToAdd.push(m); // APPEND_IF_EXISTS_OR_ADD (0, the default)
        }
      }
      out.headersToRemove = list(ok, 'headers_to_remove').map(String);
      for (const q of list(ok, 'query_parameters_to_set')) {
        if (isObj(q)) out.queryParametersToSet.push({ key: String(q['key'] ?? ''), value: String(q['value'] ?? '') });
      }
      out.queryParametersToRemove = list(ok, 'query_parameters_to_remove').map(String);
    }
  } else {
    const denied = r['denied_response'];
    if (isObj(denied)) {
      copyHeaders(list(denied, 'headers'));
      const st = isObj(denied['status']) ? denied['status']['code'] : undefined;
      const n = st === undefined ? 0 : (enumNumber('envoy.type.v3.StatusCode', st as string | number) ?? 0);
      if (n > 0) out.statusCode = n;
      out.body = typeof denied['body'] === 'string' ? denied['body'] : '';
    }
  }
  // "OkHttpResponse.dynamic_metadata is deprecated ... it overrides dynamic_metadata".
  const ok = r['ok_response'];
  out.dynamicMetadata = structToJson(isObj(ok) && isObj(ok['dynamic_metadata']) ? ok['dynamic_metadata'] : r['dynamic_metadata']);
  return out;
}

/** config_impl.cc virtual host lookup: exact, then longest suffix wildcard, longest prefix wildcard, then "*". */
function findVirtualHost(vhosts: readonly VirtualHostSettings[], authority: string): VirtualHostSettings | undefined {
  const host = authority.toLowerCase();
  const exact = vhosts.find((v) => v.domains.some((d) => d.toLowerCase() === host));
  if (exact !== undefined) return exact;
  let best: { vh: VirtualHostSettings; len: number } | undefined;
  for (const vh of vhosts) {
    for (const d of vh.domains.map((x) => x.toLowerCase())) {
      if (d.length > 1 && d.startsWith('*') && host.length > d.length - 1 && host.endsWith(d.slice(1)) && (best === undefined || d.length > best.len)) best = { vh, len: d.length };
    }
  }
  if (best !== undefined) return best.vh;
  for (const vh of vhosts) {
    for (const d of vh.domains.map((x) => x.toLowerCase())) {
      if (d.length > 1 && d.endsWith('*') && host.length > d.length - 1 && host.startsWith(d.slice(0, -1)) && (best === undefined || d.length > best.len)) best = { vh, len: d.length };
    }
  }
  if (best !== undefined) return best.vh;
  return vhosts.find((v) => v.domains.includes('*'));
}

/** RouteMatch on the path without query and fragment (prefix, path, safe_regex, path_separated_prefix). */
function routeMatches(route: RouteSettings, pathWithQuery: string): boolean {
  const m = route.match;
  const cs = m['case_sensitive'] !== false;
  const path = pathWithQuery.replace(/[?#].*$/, '');
  const norm = (s: string): string => (cs ? s : s.toLowerCase());
  if (typeof m['prefix'] === 'string') return norm(path).startsWith(norm(m['prefix']));
  if (typeof m['path'] === 'string') return norm(path) === norm(m['path']);
  if (typeof m['path_separated_prefix'] === 'string') {
    const p = norm(m['path_separated_prefix']);
    return norm(path) === p || norm(path).startsWith(`${p}/`);
  }
  const re = isObj(m['safe_regex']) ? m['safe_regex']['regex'] : undefined;
  if (typeof re === 'string') return new RegExp(`^(?:${re})$`).test(path);
  return false;
}

/** Http::Utility::QueryParamsMulti (a btree_map: keys come out sorted) and replaceQueryString. */
function mutateQuery(path: string, set: readonly Mutation[], remove: readonly string[]): string {
  const q = path.indexOf('?');
  const base = path.replace(/[?#].*$/, '');
  const params = new Map<string, string[]>();
  if (q >= 0) {
    const query = path.slice(q + 1).replace(/#.*$/, '');
    for (const part of query.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const [k, v] = eq >= 0 ? [part.slice(0, eq), part.slice(eq + 1)] : [part, ''];
      params.set(k, [...(params.get(k) ?? []), v]);
    }
  }
  for (const { key, value } of set) params.set(key, [value]);
  for (const k of remove) params.delete(k);
  const keys = [...params.keys()].sort();
  const parts = keys.flatMap((k) => (params.get(k) ?? []).map((v) => `${k}=${v}`));
  return parts.length === 0 ? base : `${base}?${parts.join('&')}`;
}

export class EnvoyExtAuthzHarness {
  readonly settings: HarnessSettings;
  /** Every request seen, in order. */
  readonly exchanges: ExtAuthzExchange[] = [];
  /** The dynamic metadata of the last request that stored some (what an access log would print). */
  lastDynamicMetadata: JsonObject | undefined;

  private readonly server: http.Server;
  private readonly client: grpc.Client;
  private readonly extProcClient: grpc.Client | undefined;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly matchers: HeaderMatchers;
  private readonly checker: MutationRulesChecker | undefined;
  private readonly upstreams: Readonly<Record<string, UpstreamAddress>>;

  private constructor(opts: HarnessOptions) {
    if (opts.settings === undefined && opts.bootstrap === undefined) throw new Error('EnvoyExtAuthzHarness needs `bootstrap` or `settings`');
    this.settings = opts.settings ?? harnessSettingsFromBootstrap(opts.bootstrap);
    this.upstreams = opts.upstreams ?? {};
    this.matchers = headerMatchers(this.settings.extAuthz);
    const rules = this.settings.extAuthz.decoderHeaderMutationRules;
    this.checker = rules === undefined ? undefined : new MutationRulesChecker(rules);
    this.client = new grpc.Client(opts.gateway, grpc.credentials.createInsecure());
    this.extProcClient = this.settings.extProc === undefined ? undefined : new grpc.Client(opts.extProcGateway ?? opts.gateway, grpc.credentials.createInsecure());
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    // node:http would otherwise add "Keep-Alive: timeout=5", which Envoy does not send.
    this.server.keepAliveTimeout = 0;
  }

  static async start(opts: HarnessOptions): Promise<EnvoyExtAuthzHarness> {
    const h = new EnvoyExtAuthzHarness(opts);
    await new Promise<void>((resolve, reject) => {
      h.server.once('error', reject);
      h.server.listen(0, '127.0.0.1', () => resolve());
    });
    // Envoy holds a warm HTTP/2 connection to the (health-checked) gateway cluster; without
    // one, the first call's deadline would also have to cover connecting. Best effort: a
    // gateway that is down stays down, as tests of that case expect.
    const deadline = Date.now() + 1000;
    await Promise.all(
      [h.client, h.extProcClient].map((c) => (c === undefined ? undefined : new Promise<void>((resolve) => c.waitForReady(deadline, () => resolve())))),
    );
    return h;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  lastExchange(): ExtAuthzExchange {
    const ex = this.exchanges[this.exchanges.length - 1];
    if (ex === undefined) throw new Error('the harness has seen no request yet');
    return ex;
  }

  async close(): Promise<void> {
    this.client.close();
    this.extProcClient?.close();
    this.agent.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // --- per request ---------------------------------------------------------------------------

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    res.once('close', () => finish());
    const ex: ExtAuthzExchange = {
      // ConnectionManagerImpl: the stream id is a random uint64 (not x-request-id).
      streamId: randomBytes(8).readBigUInt64BE().toString(),
      downstream: {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        rawHeaders: pairs(req.rawHeaders),
        source: { address: req.socket.remoteAddress ?? '', port: req.socket.remotePort ?? 0 },
      },
      route: undefined,
      upstreamReached: false,
      finished,
    };
    this.exchanges.push(ex);
    this.handle(ex, req, res).catch((err: unknown) => {
      ex.harnessError = err instanceof Error ? (err.stack ?? err.message) : String(err);
      if (!res.headersSent) this.localReply(ex, req, res, 500, 'harness error', [], 'harness_error');
      else res.destroy();
    });
  }

  private requestHeaders(req: http.IncomingMessage): EnvoyHeaderMap {
    const h = new EnvoyHeaderMap();
    const url = req.url ?? '/';
    const absolute = /^https?:\/\//i.test(url) ? new URL(url) : undefined;
    // Http1 codec: Host becomes :authority (absolute-form request targets win), the request
    // target becomes :path, the method :method.
    h.add(':authority', absolute?.host ?? req.headers.host ?? '');
    h.add(':path', absolute === undefined ? url : `${absolute.pathname}${absolute.search}`);
    h.add(':method', req.method ?? 'GET');
    if (absolute !== undefined) h.add(':scheme', absolute.protocol.replace(/:$/, ''));
    for (const [k, v] of pairs(req.rawHeaders)) {
      if (k.toLowerCase() === 'host') continue;
      h.add(k, v);
    }
    // conn_manager_utility.cc mutateRequestHeaders (use_remote_address false, not an edge request).
    if (!(h.first('connection') ?? '').toLowerCase().includes('upgrade')) {
      h.remove('connection');
      h.remove('upgrade');
    }
    for (const k of ['x-envoy-internal', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'x-forwarded-client-cert']) h.remove(k);
    if (!h.has('x-forwarded-proto')) h.set('x-forwarded-proto', 'http');
    if (!h.has(':scheme')) {
      const xfp = h.first('x-forwarded-proto');
      h.set(':scheme', xfp === 'http' || xfp === 'https' ? xfp : 'http');
    }
    for (const k of INTERNAL_ONLY_HEADERS) h.remove(k);
    // "Generate x-request-id for all edge requests, or if there is none."
    if (this.settings.generateRequestId && !h.has('x-request-id')) h.set('x-request-id', randomUUID());
    // HCM answers "Expect: 100-continue" itself (proxy_100_continue false) and drops the header.
    if ((h.first('expect') ?? '').toLowerCase() === '100-continue') h.remove('expect');
    return h;
  }

  private originalDestination(authority: string): UpstreamAddress | undefined {
    const a = authority.toLowerCase();
    const host = a.replace(/:\d+$/, '');
    return this.upstreams[authority] ?? this.upstreams[a] ?? this.upstreams[host] ?? this.upstreams[`${host}:80`];
  }

  private async handle(ex: ExtAuthzExchange, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startTime = new Date();
    const headers = this.requestHeaders(req);
    const authority = headers.first(':authority') ?? '';
    // The original destination is fixed by the connection (original_dst), before any filter.
    const upstream = this.originalDestination(authority);
    const destination: SocketAddress = upstream === undefined ? { address: '127.0.0.1', port: this.port } : { address: upstream.host, port: upstream.port };

    const vh = findVirtualHost(this.settings.virtualHosts, authority);
    const route = vh?.routes.find((r) => routeMatches(r, headers.first(':path') ?? '/'));
    const s = this.settings.extAuthz;
    if (route === undefined) {
      // getPerRouteFlags(nullptr) → skip_check_; the router then answers 404 (route_not_found).
      ex.checkSkipped = 'no_route';
      req.resume();
      this.localReply(ex, req, res, 404, '', [], 'route_not_found');
      return;
    }
    ex.route = route.name;

    // getAllPerFilterConfig merges context_extensions from least to most specific;
    // resolveMostSpecificPerFilterConfig decides disabled / check_settings.
    const mostSpecific = route.perFilter[route.perFilter.length - 1];
    const contextExtensions: Record<string, string> = {};
    for (const p of route.perFilter) {
      const ce = p.checkSettings?.['context_extensions'];
      if (isObj(ce)) for (const [k, v] of Object.entries(ce)) contextExtensions[k] = String(v);
    }
    if (mostSpecific?.filterDisabled === true || mostSpecific?.disabled === true) {
      ex.checkSkipped = mostSpecific.filterDisabled ? 'filter_disabled' : 'per_route_disabled';
      await this.proxy(ex, req, res, headers, upstream, route, [], undefined);
      return;
    }

    // decodeHeaders: buffer only with with_request_body (filter or per-route) and a body to come.
    const cs = mostSpecific?.checkSettings;
    const perRouteBody = parseBufferSettings(isObj(cs?.['with_request_body']) ? (cs['with_request_body'] as JsonObject) : undefined);
    const te = headers.has('transfer-encoding') || req.headers['transfer-encoding'] !== undefined;
    const cl = req.headers['content-length'];
    const endStream = !te && (cl === undefined || cl === '0');
    const bufferData = (s.withRequestBody !== undefined || perRouteBody !== undefined) && cs?.['disable_request_body_buffering'] !== true && !endStream;
    let maxRequestBytes = s.withRequestBody?.maxRequestBytes ?? 0;
    let allowPartial = s.withRequestBody?.allowPartialMessage ?? false;
    if (perRouteBody !== undefined) {
      maxRequestBytes = perRouteBody.maxRequestBytes;
      allowPartial = perRouteBody.allowPartialMessage;
    }

    const chunks: Buffer[] = [];
    let buffered = 0;
    let decodingBuffer: Buffer | undefined;
    if (bufferData) {
      const outcome = await new Promise<'check' | 'too_large'>((resolve, reject) => {
        const onData = (chunk: Buffer): void => {
          chunks.push(chunk);
          buffered += chunk.length;
          // Without allow_partial_message the decoder buffer limit is max_request_bytes; going
          // above it gives 413 and no Check (ext_authz.proto BufferSettings.max_request_bytes).
          if (!allowPartial && buffered > maxRequestBytes) done('too_large');
          // isBufferFull(): with allow_partial_message, dispatch once max_request_bytes are in.
          else if (allowPartial && buffered >= maxRequestBytes) done('check');
        };
        const onEnd = (): void => done('check');
        const done = (o: 'check' | 'too_large'): void => {
          req.off('data', onData);
          req.off('end', onEnd);
          req.off('error', reject);
          req.pause();
          resolve(o);
        };
        req.on('data', onData);
        req.once('end', onEnd);
        req.once('error', reject);
      });
      if (outcome === 'too_large') {
        ex.checkSkipped = 'request_payload_too_large';
        req.resume();
        // FilterManager: sendLocalReply(PayloadTooLarge, CodeUtility::toString(...)).
        this.localReply(ex, req, res, 413, 'Payload Too Large', [], 'request_payload_too_large');
        return;
      }
      decodingBuffer = Buffer.concat(chunks);
    }

    const checkRequest = buildCheckRequest(
      s,
      this.matchers,
      headers,
      {
        streamId: ex.streamId,
        startTime,
        source: ex.downstream.source,
        destination,
        protocol: req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1',
        bytesReceived: buffered,
        decodingBuffer,
        maxRequestBytes,
      },
      contextExtensions,
    );

    const started = performance.now();
    const result = await this.check(checkRequest, ex);
    let response: AuthzResponse;
    if ('error' in result) {
      ex.checkError = { code: result.error.code, codeName: grpcCodeName(result.error.code), details: result.error.details };
      response = emptyResponse('Error'); // GrpcClientImpl::onFailure
    } else {
      ex.checkResponse = result.response;
      response = toAuthzResponse(result.response);
    }
    ex.checkStatus = response.status;
    await this.onComplete(ex, req, res, headers, upstream, route, chunks, response, started);
  }

  private check(checkRequest: Record<string, unknown>, ex: ExtAuthzExchange): Promise<{ response: Record<string, unknown> } | { error: grpc.ServiceError }> {
    const method = envoyServices().authorization['Check'];
    if (method === undefined) throw new Error('Authorization service has no Check method');
    // Record the request as it goes on the wire (what the gateway decodes).
    ex.checkRequest = method.requestDeserialize(method.requestSerialize(checkRequest)) as Record<string, unknown>;
    const metadata = new grpc.Metadata();
    for (const [k, v] of this.settings.extAuthz.initialMetadata) metadata.add(k, v);
    const timeout = this.settings.extAuthz.timeoutMs;
    // GrpcClientImpl::check → options.setTimeout(timeout_): the call's deadline (grpc-timeout).
    const options: grpc.CallOptions = timeout === null ? {} : { deadline: new Date(Date.now() + timeout) };
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(
        method.path,
        (arg: Record<string, unknown>) => method.requestSerialize(arg),
        (buf: Buffer) => method.responseDeserialize(buf) as Record<string, unknown>,
        checkRequest,
        metadata,
        options,
        (err: grpc.ServiceError | null, value?: Record<string, unknown>) => {
          if (err !== null) resolve({ error: err });
          else resolve({ response: value ?? {} });
        },
      );
    });
  }

  /** validateAndCheckDecoderHeaderMutation. */
  private checkMutation(op: CheckOperation, key: string, value: string): CheckResult {
    const s = this.settings.extAuthz;
    if (s.validateMutations && (!headerNameIsValid(key) || !headerValueIsValid(value))) return 'FAIL';
    // FilterConfig::checkDecoderHeaderMutation: OK when no rules are configured.
    return this.checker === undefined ? 'OK' : this.checker.check(op, key.toLowerCase(), value);
  }

  /** Filter::onComplete. */
  private async onComplete(
    ex: ExtAuthzExchange,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    headers: EnvoyHeaderMap,
    upstream: UpstreamAddress | undefined,
    route: RouteSettings,
    chunks: Buffer[],
    r: AuthzResponse,
    started: number,
  ): Promise<void> {
    const s = this.settings.extAuthz;
    const reject = (): void => {
      // Filter::rejectResponse: 500, empty body, details ext_authz_invalid.
      req.resume();
      this.localReply(ex, req, res, 500, '', [], 'ext_authz_invalid');
    };

    if (Object.keys(r.dynamicMetadata).length > 0 && s.enableDynamicMetadataIngestion) {
      const md: JsonObject = { ...r.dynamicMetadata };
      // "Add duration of call to dynamic metadata if applicable" (OK only), in milliseconds.
      if (r.status === 'OK') md['ext_authz_duration'] = Math.floor(performance.now() - started);
      ex.dynamicMetadata = md;
      this.lastDynamicMetadata = md;
    }

    if (r.status === 'OK') {
      for (const { key, value } of r.headersToSet) {
        const c = this.checkMutation('SET', key, value);
        if (c === 'FAIL') return reject();
        if (c === 'OK') headers.set(key.toLowerCase(), toByteString(value));
      }
      for (const { key, value } of r.headersToAppend) {
        const c = this.checkMutation('APPEND', key, value);
        if (c === 'FAIL') return reject();
        // Appends only when the header exists (Envoy's source notes a flag to allow appending
        // to absent headers as future work): otherwise silently dropped.
        if (c === 'OK' && headers.has(key.toLowerCase())) headers.append(key.toLowerCase(), toByteString(value));
      }
      for (const key of r.headersToRemove) {
        if (s.validateMutations && !headerNameIsValid(key)) continue;
        // "We don't allow removing any :-prefixed headers, nor Host" (checked by the rules
        // checker when rules are configured).
        if (this.checker === undefined && !isRemovableHeader(key)) continue;
        const c = this.checker === undefined ? 'OK' : this.checker.check('REMOVE', key.toLowerCase(), '');
        if (c === 'FAIL') return reject();
        if (c === 'OK') headers.remove(key.toLowerCase());
      }
      for (const list of [r.responseHeadersToAdd, r.responseHeadersToSet, r.responseHeadersToAddIfAbsent, r.responseHeadersToOverwriteIfExists]) {
        for (const { key, value } of list) {
          if (s.validateMutations && (!headerNameIsValid(key) || !headerValueIsValid(value))) return reject();
        }
      }
      if (r.queryParametersToSet.length > 0 || r.queryParametersToRemove.length > 0) {
        const encoded = (x: string): boolean => /^(?:[A-Za-z0-9\-._~!$'()*+,;:@/?]|%[0-9A-Fa-f]{2})*$/.test(x);
        if (s.validateMutations && r.queryParametersToSet.some((q) => !encoded(q.key) || !encoded(q.value))) return reject();
        headers.set(':path', mutateQuery(headers.first(':path') ?? '/', r.queryParametersToSet, r.queryParametersToRemove));
      }
      await this.proxy(ex, req, res, headers, upstream, route, chunks, r);
      return;
    }

    if (r.status === 'Denied') {
      if (s.validateMutations && r.headersToSet.some((h) => !headerNameIsValid(h.key) || !headerValueIsValid(h.value))) return reject();
      req.resume();
      // sendLocalReply(status_code, body, modify_headers): only headers_to_set (append false)
      // are applied; each key is removed first, then all are added (Set-Cookie may repeat).
      this.localReply(
        ex,
        req,
        res,
        r.statusCode,
        r.body,
        r.headersToSet.map((h) => [h.key.toLowerCase(), toByteString(h.value)] as const),
        'ext_authz_denied',
      );
      return;
    }

    // CheckStatus::Error
    if (s.failureModeAllow) {
      if (s.failureModeAllowHeaderAdd) headers.add('x-envoy-auth-failure-mode-allowed', 'true');
      await this.proxy(ex, req, res, headers, upstream, route, chunks, undefined);
      return;
    }
    req.resume();
    this.localReply(ex, req, res, s.statusOnError, '', [], 'ext_authz_error');
  }

  /** HCM response header handling common to local and upstream replies (server header). */
  private serverHeader(h: EnvoyHeaderMap): void {
    const t = this.settings.serverHeaderTransformation;
    if (t === 'OVERWRITE') h.set('server', this.settings.serverName);
    else if (t === 'APPEND_IF_ABSENT' && !h.has('server')) h.set('server', this.settings.serverName);
  }

  /**
   * Http::Utility::sendLocalReply / prepareLocalReply: modify_headers first; a non-empty body
   * gets content-length and (unless set) content-type text/plain; an empty body has neither
   * (the HTTP/1 codec then writes content-length: 0).
   */
  /** The upstream request line and headers as the router sends them over HTTP/1.1. */
  private upstreamRequest(headers: EnvoyHeaderMap, route: RouteSettings): { method: string; path: string; headers: [string, string][] } {
    // router.cc: x-envoy-expected-rq-timeout-ms unless suppress_envoy_headers (timeout > 0).
    if (!this.settings.suppressEnvoyHeaders && route.timeoutMs > 0) headers.set('x-envoy-expected-rq-timeout-ms', String(route.timeoutMs));
    const out: [string, string][] = [];
    for (const [k, v] of headers.list()) {
      // Http1 encoder: :authority goes out as host, other pseudo-headers are not headers.
      if (k === ':authority') out.unshift(['host', v]);
      else if (!k.startsWith(':')) out.push([k, v]);
    }
    return { method: headers.first(':method') ?? 'GET', path: headers.first(':path') ?? '/', headers: out };
  }

  /** The upstream's response headers as the router and ext_authz leave them for the agent. */
  private upstreamResponseHeaders(h: EnvoyHeaderMap, authz: AuthzResponse | undefined, startedMs: number): void {
    // mutateResponseHeaders: hop-by-hop headers are not forwarded.
    for (const k of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) h.remove(k);
    if (!this.settings.suppressEnvoyHeaders) h.set('x-envoy-upstream-service-time', String(Math.floor(performance.now() - startedMs)));
    this.serverHeader(h);
    // Filter::encodeHeaders: add, set, add-if-absent, overwrite-if-exists.
    if (authz === undefined) return;
    for (const { key, value } of authz.responseHeadersToAdd) h.add(key, toByteString(value));
    for (const { key, value } of authz.responseHeadersToSet) h.set(key, toByteString(value));
    for (const { key, value } of authz.responseHeadersToAddIfAbsent) if (!h.has(key)) h.add(key, toByteString(value));
    for (const { key, value } of authz.responseHeadersToOverwriteIfExists) if (h.has(key)) h.set(key, toByteString(value));
  }

  private localReply(
    ex: ExtAuthzExchange,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    body: string,
    modifyHeaders: readonly (readonly [string, string])[],
    details: string,
  ): void {
    const h = new EnvoyHeaderMap();
    for (const [k] of modifyHeaders) h.remove(k);
    for (const [k, v] of modifyHeaders) h.add(k, v);
    const bytes = Buffer.from(body, 'utf8');
    if (bytes.length > 0) {
      h.set('content-length', String(bytes.length));
      if (!h.has('content-type')) h.set('content-type', 'text/plain');
    } else {
      h.remove('content-type');
      h.set('content-length', '0');
    }
    this.serverHeader(h);
    // A reply before the request body is complete makes Envoy close an HTTP/1 connection.
    if (!req.complete) h.set('connection', 'close');
    const list = h.list();
    ex.response = { status, headers: list, local: true, details, body };
    res.writeHead(status, list.flatMap(([k, v]) => [k, v]));
    res.end(bytes);
  }

  /** The router: forward the (mutated) request to the original destination and stream back. */
  private async proxy(
    ex: ExtAuthzExchange,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    headers: EnvoyHeaderMap,
    upstream: UpstreamAddress | undefined,
    route: RouteSettings,
    chunks: readonly Buffer[],
    authz: AuthzResponse | undefined,
  ): Promise<void> {
    const ep = this.settings.extProc;
    const perRoute = route.extProcPerRoute[route.extProcPerRoute.length - 1];
    if (ep !== undefined && this.extProcClient !== undefined && perRoute?.disabled !== true) {
      // The most specific ExtProcPerRoute with a processing mode overrides the filter's.
      const routeMode = [...route.extProcPerRoute].reverse().find((p) => p.mode !== undefined)?.mode;
      await this.proxyWithExtProc(ex, req, res, headers, upstream, route, chunks, authz, new ExtProcFilter(ep, this.extProcClient, routeMode));
      return;
    }
    if (upstream === undefined) {
      req.resume();
      this.localReply(ex, req, res, 503, 'no healthy upstream', [], 'no_healthy_upstream');
      return;
    }
    const { method, path, headers: out } = this.upstreamRequest(headers, route);
    const record: UpstreamRequestRecord = { address: upstream.host, port: upstream.port, method, path, headers: out };
    ex.upstream = record;
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const up = http.request({
        host: upstream.host,
        port: upstream.port,
        method,
        path,
        headers: out.flatMap(([k, v]) => [k, v]),
        setHost: false,
        agent: this.agent,
      });
      up.on('response', (ures) => {
        ex.upstreamReached = true;
        const h = new EnvoyHeaderMap();
        for (const [k, v] of pairs(ures.rawHeaders)) h.add(k, v);
        this.upstreamResponseHeaders(h, authz, t0);
        const status = ures.statusCode ?? 502;
        const list = h.list();
        ex.response = { status, headers: list, local: false, details: 'via_upstream' };
        res.writeHead(status, list.flatMap(([k, v]) => [k, v]));
        ures.pipe(res);
        ures.once('end', () => resolve());
        ures.once('error', () => {
          res.destroy();
          resolve();
        });
      });
      up.once('error', (err: NodeJS.ErrnoException) => {
        if (ex.response === undefined) {
          // Router: upstream connection failure before headers → 503.
          const reason = err.code === 'ECONNREFUSED' ? 'connection_failure' : 'remote_reset';
          this.localReply(ex, req, res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason.replace('_', ' ')}`, [], `upstream_reset_before_response_started{${reason}}`);
        } else {
          res.destroy();
        }
        resolve();
      });
      for (const c of chunks) up.write(c);
      if (req.complete && req.readableEnded) up.end();
      else req.pipe(up);
    });
  }

  /**
   * The router behind the ext_proc filter: the request phase runs before anything goes
   * upstream, the response phase before anything goes back to the client (see ext-proc.ts).
   */
  private async proxyWithExtProc(
    ex: ExtAuthzExchange,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    headers: EnvoyHeaderMap,
    upstream: UpstreamAddress | undefined,
    route: RouteSettings,
    held: readonly Buffer[],
    authz: AuthzResponse | undefined,
    filter: ExtProcFilter,
  ): Promise<void> {
    ex.extProc = filter.record;
    try {
      const reqChunks = [...held, ...(await readRest(req))];
      const hasBody = reqChunks.some((c) => c.length > 0) || req.headers['transfer-encoding'] !== undefined;
      const r1 = await filter.request(headers, reqChunks, !hasBody);
      if (r1.kind === 'local') {
        this.localReply(ex, req, res, r1.reply.status, r1.reply.body.toString('utf8'), r1.reply.headers, r1.reply.details);
        return;
      }
      if (upstream === undefined) {
        this.localReply(ex, req, res, 503, 'no healthy upstream', [], 'no_healthy_upstream');
        return;
      }
      const { method, path, headers: out } = this.upstreamRequest(headers, route);
      ex.upstream = { address: upstream.host, port: upstream.port, method, path, headers: out };
      const t0 = performance.now();
      const up = await new Promise<{ status: number; raw: [string, string][]; chunks: Buffer[] } | { error: NodeJS.ErrnoException }>((resolve) => {
        const u = http.request({ host: upstream.host, port: upstream.port, method, path, headers: out.flatMap(([k, v]) => [k, v]), setHost: false, agent: this.agent });
        u.once('response', (ures) => {
          const chunks: Buffer[] = [];
          ures.on('data', (c: Buffer) => chunks.push(c));
          ures.once('end', () => resolve({ status: ures.statusCode ?? 502, raw: pairs(ures.rawHeaders), chunks }));
          ures.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
        });
        u.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
        u.end(r1.body);
      });
      if ('error' in up) {
        const reason = up.error.code === 'ECONNREFUSED' ? 'connection_failure' : 'remote_reset';
        this.localReply(ex, req, res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason.replace('_', ' ')}`, [], `upstream_reset_before_response_started{${reason}}`);
        return;
      }
      ex.upstreamReached = true;
      const h = new EnvoyHeaderMap();
      h.add(':status', String(up.status));
      for (const [k, v] of up.raw) h.add(k, v);
      this.upstreamResponseHeaders(h, authz, t0);
      const r2 = await filter.response(h, up.chunks, up.chunks.every((c) => c.length === 0));
      if (r2.kind === 'local') {
        this.localReply(ex, req, res, r2.reply.status, r2.reply.body.toString('utf8'), r2.reply.headers, r2.reply.details);
        return;
      }
      const status = Number(h.first(':status') ?? up.status);
      h.remove(':status');
      const list = h.list();
      ex.response = { status, headers: list, local: false, details: 'via_upstream' };
      res.writeHead(status, list.flatMap(([k, v]) => [k, v]));
      res.end(r2.body);
    } finally {
      filter.close();
    }
  }
}

function readRest(req: http.IncomingMessage): Promise<Buffer[]> {
  if (req.readableEnded) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(chunks));
    req.once('error', reject);
    req.resume();
  });
}

/** Convenience: the CheckRequest headers map of an exchange (throws if there is none). */
export function checkHeaders(ex: ExtAuthzExchange): Record<string, string> {
  const attrs = ex.checkRequest?.['attributes'];
  const req = isObj(attrs) && isObj(attrs['request']) ? attrs['request'] : undefined;
  const httpReq = req !== undefined && isObj(req['http']) ? req['http'] : undefined;
  const headers = httpReq !== undefined && isObj(httpReq['headers']) ? httpReq['headers'] : undefined;
  if (headers === undefined) throw new Error('exchange has no CheckRequest headers');
  return headers as Record<string, string>;
}


