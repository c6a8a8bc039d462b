import { DESTINATION_IS_PROXY } from './check-request.js';
import { JochError } from '../errors.js';

/**
 * Envoy v3 bootstrap configs we ship (sidecar, egress gateway), rendered as plain JSON-shaped
 * objects. Pure: no I/O. Every shared piece (filters, clusters, listeners) is built by one small
 * function below, so the two shapes cannot drift apart; `bootstrap-check.ts` checks the result
 * against Envoy's protos.
 */

export type Json = string | number | boolean | null | readonly Json[] | JsonObject;
export interface JsonObject {
  readonly [key: string]: Json;
}

/** A protobuf Duration in its JSON form. */
export type Duration = `${number}s`;

/** Message types we put in `@type` (the checker loads their proto files). */
export const TYPE = {
  extAuthz: 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
  extAuthzPerRoute: 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute',
  extProc: 'envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor',
  extProcPerRoute: 'envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute',
  dfpFilter: 'envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig',
  router: 'envoy.extensions.filters.http.router.v3.Router',
  hcm: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  networkExtAuthz: 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
  tcpProxy: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  originalDst: 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  tlsInspector: 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  dfpCluster: 'envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig',
  upstreamTls: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  httpProtocolOptions: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  stdoutLog: 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
} as const;

/** Extension names, as Envoy registers them. */
export const FILTER = {
  extAuthz: 'envoy.filters.http.ext_authz',
  extProc: 'envoy.filters.http.ext_proc',
  dfp: 'envoy.filters.http.dynamic_forward_proxy',
  router: 'envoy.filters.http.router',
  hcm: 'envoy.filters.network.http_connection_manager',
  networkExtAuthz: 'envoy.filters.network.ext_authz',
  tcpProxy: 'envoy.filters.network.tcp_proxy',
  originalDst: 'envoy.filters.listener.original_dst',
  tlsInspector: 'envoy.filters.listener.tls_inspector',
} as const;

export const GATEWAY_CLUSTER = 'joch_gateway';
export const ORIGINAL_DST_CLUSTER = 'original_destination';
export const DFP_CLUSTER = 'dynamic_forward_proxy_cluster';
/** Node metadata key whose string map network ext_authz sends as `destination.labels`. */
export const IDENTITY_METADATA_KEY = 'joch_identity';
/** Tells the gateway that the destination address ext_authz reports is this proxy's own (see check-request.ts). */
const PROXY_MARK = { [DESTINATION_IS_PROXY]: 'true' };

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Settings shared by both shapes; every one has a default. */
export interface CommonOptions {
  /** The joch gateway's gRPC address (ext_authz + ext_proc). Default 127.0.0.1:9001. */
  readonly gateway?: Partial<HostPort>;
  /** ext_authz Check deadline (Envoy's own default). Default 0.2s. */
  readonly authzTimeout?: Duration;
  /** ext_proc per-message deadline. Default 0.2s. */
  readonly extProcMessageTimeout?: Duration;
  readonly connectTimeout?: Duration;
  readonly streamIdleTimeout?: Duration;
  readonly requestHeadersTimeout?: Duration;
  /** Whole-request deadline on proxied routes; LLM calls can be slow. Default 300s. */
  readonly routeTimeout?: Duration;
  /** Per-connection buffer limit: bounds what ext_proc BUFFERED mode can hold (else 413/500). */
  readonly bufferLimitBytes?: number;
  /** gRPC health check on the gateway cluster. Default true. */
  readonly gatewayHealthCheck?: boolean;
  readonly adminPort?: number;
}

/** Who the sidecar speaks for; sent to ext_authz as context extensions. */
export interface AgentIdentity {
  readonly tenant: string;
  readonly namespace: string;
  readonly environment: string;
  readonly agent: string;
  readonly agentId: string;
  readonly framework: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface SidecarOptions extends CommonOptions {
  readonly identity: AgentIdentity;
  /** Where iptables redirects outbound TCP. Default 15001. */
  readonly port?: number;
}

export interface EgressGatewayOptions extends CommonOptions {
  readonly httpPort?: number;
  readonly tlsPort?: number;
  /** SNI names opaque TLS may reach; anything else is refused. */
  readonly sniAllowlist?: readonly string[];
  /** Hosts the gateway originates TLS to, for agents calling `http://<host>/`. */
  readonly providers?: readonly string[];
  readonly caBundle?: string;
}

const DEFAULTS = {
  gateway: { host: '127.0.0.1', port: 9001 },
  authzTimeout: '0.2s',
  extProcMessageTimeout: '0.2s',
  connectTimeout: '1s',
  streamIdleTimeout: '300s',
  requestHeadersTimeout: '10s',
  routeTimeout: '300s',
  bufferLimitBytes: 4 * 1024 * 1024,
  gatewayHealthCheck: true,
  adminPort: 15000,
  port: 15001,
  httpPort: 15080,
  tlsPort: 15443,
  sniAllowlist: ['api.openai.com', 'api.anthropic.com'],
  providers: ['api.openai.com', 'api.anthropic.com'],
  caBundle: '/etc/ssl/certs/ca-certificates.crt',
} as const satisfies Required<Omit<SidecarOptions & EgressGatewayOptions, 'identity' | 'gateway'>> & { gateway: HostPort };

type Resolved<T> = Required<Omit<T, 'gateway'>> & { readonly gateway: HostPort };

const defined = (o: object | undefined): object => Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined));

// DEFAULTS covers every optional key of both option types (checked by its `satisfies`).
function resolve<T extends CommonOptions>(opts: T): Resolved<T> {
  return { ...DEFAULTS, ...defined(opts), gateway: { ...DEFAULTS.gateway, ...defined(opts.gateway) } } as unknown as Resolved<T>;
}

// ---- building blocks -------------------------------------------------------------------

const typed = (type: string, body: JsonObject = {}): JsonObject => ({ '@type': `type.googleapis.com/${type}`, ...body });

const extension = (name: string, type: string, body: JsonObject = {}): JsonObject => ({ name, typed_config: typed(type, body) });

const socketAddress = (address: string, port: number): JsonObject => ({ socket_address: { address, port_value: port } });

const gatewayGrpc = (timeout?: Duration): JsonObject => ({
  envoy_grpc: { cluster_name: GATEWAY_CLUSTER },
  ...(timeout === undefined ? {} : { timeout }),
});

/** The identity map: `context_extensions` on HTTP routes, node metadata for network ext_authz. */
export function identityEntries(id: AgentIdentity): Record<string, string> {
  const out: Record<string, string> = {
    tenant: id.tenant,
    namespace: id.namespace,
    environment: id.environment,
    agent: id.agent,
    'agent-id': id.agentId,
    framework: id.framework,
  };
  for (const key of Object.keys(id.labels).sort()) out[`label.${key}`] = id.labels[key] as string;
  return out;
}

// Fail closed: our server down, slow or erroring means the call is refused (403), never let through.
function httpExtAuthz(o: Resolved<CommonOptions>): JsonObject {
  return extension(FILTER.extAuthz, TYPE.extAuthz, {
    grpc_service: gatewayGrpc(o.authzTimeout),
    transport_api_version: 'V3',
    failure_mode_allow: false,
    status_on_error: { code: 'Forbidden' },
    include_peer_certificate: true,
  });
}

// No grpc_service timeout here: it would bound the whole stream (the whole request), not a message.
// ext_proc has no context_extensions: a sidecar names its agent in the stream's initial
// metadata, `x-joch-identity-<key>` (read by src/context/identity.ts extensionsFromHeaders).
function httpExtProc(o: Resolved<CommonOptions>, identity?: AgentIdentity): JsonObject {
  const metadata = identity === undefined ? [] : Object.entries(identityEntries(identity)).map(([k, v]) => ({ key: `x-joch-identity-${k}`, value: v }));
  return extension(FILTER.extProc, TYPE.extProc, {
    grpc_service: { ...gatewayGrpc(), ...(metadata.length > 0 ? { initial_metadata: metadata } : {}) },
    failure_mode_allow: false,
    processing_mode: {
      request_header_mode: 'SEND',
      response_header_mode: 'SEND',
      request_body_mode: 'BUFFERED',
      response_body_mode: 'BUFFERED',
      request_trailer_mode: 'SKIP',
      response_trailer_mode: 'SKIP',
    },
    message_timeout: o.extProcMessageTimeout,
    allow_mode_override: true,
  });
}

function networkExtAuthz(o: Resolved<CommonOptions>, statPrefix: string, extra: JsonObject = {}): JsonObject {
  return extension(FILTER.networkExtAuthz, TYPE.networkExtAuthz, {
    stat_prefix: statPrefix,
    grpc_service: gatewayGrpc(o.authzTimeout),
    transport_api_version: 'V3',
    failure_mode_allow: false,
    include_tls_session: true,
    ...extra,
  });
}

const decisionFields = (ns: string): JsonObject =>
  Object.fromEntries(['decision_id', 'policy_id', 'policy_version', 'rule_id'].map((k) => [k, `%DYNAMIC_METADATA(${ns}:${k})%`]));

// No path: query strings can carry credentials, and the log must not.
const httpAccessLog = (): JsonObject =>
  extension('envoy.access_loggers.stdout', TYPE.stdoutLog, {
    log_format: {
      json_format: {
        start_time: '%START_TIME%',
        method: '%REQ(:METHOD)%',
        authority: '%REQ(:AUTHORITY)%',
        protocol: '%PROTOCOL%',
        response_code: '%RESPONSE_CODE%',
        response_flags: '%RESPONSE_FLAGS%',
        duration_ms: '%DURATION%',
        upstream_host: '%UPSTREAM_HOST%',
        request_id: '%REQ(X-REQUEST-ID)%',
        ...decisionFields('envoy.filters.http.ext_authz'),
      },
    },
  });

const tcpAccessLog = (): JsonObject =>
  extension('envoy.access_loggers.stdout', TYPE.stdoutLog, {
    log_format: {
      json_format: {
        start_time: '%START_TIME%',
        sni: '%REQUESTED_SERVER_NAME%',
        upstream_host: '%UPSTREAM_HOST%',
        bytes_sent: '%BYTES_SENT%',
        bytes_received: '%BYTES_RECEIVED%',
        response_flags: '%RESPONSE_FLAGS%',
        duration_ms: '%DURATION%',
        ...decisionFields('envoy.filters.network.ext_authz'),
      },
    },
  });

const tcpProxy = (statPrefix: string, cluster: string): JsonObject =>
  extension(FILTER.tcpProxy, TYPE.tcpProxy, { stat_prefix: statPrefix, cluster, access_log: [tcpAccessLog()] });

interface HcmSpec {
  readonly statPrefix: string;
  readonly virtualHosts: readonly JsonObject[];
  readonly httpFilters: readonly JsonObject[];
  readonly extra?: JsonObject;
}

function hcm(o: Resolved<CommonOptions>, spec: HcmSpec): JsonObject {
  return extension(FILTER.hcm, TYPE.hcm, {
    stat_prefix: spec.statPrefix,
    codec_type: 'AUTO',
    // Policies match on paths: normalise before ext_authz sees them, so `/a/../b` cannot dodge a rule.
    normalize_path: true,
    merge_slashes: true,
    stream_idle_timeout: o.streamIdleTimeout,
    request_headers_timeout: o.requestHeadersTimeout,
    access_log: [httpAccessLog()],
    ...spec.extra,
    route_config: { name: spec.statPrefix, virtual_hosts: [...spec.virtualHosts] },
    http_filters: [...spec.httpFilters],
  });
}

const route = (cluster: string, timeout: Duration, extra: JsonObject = {}): JsonObject => ({
  match: { prefix: '/' },
  route: { cluster, timeout },
  ...extra,
});

function listener(name: string, port: number, o: Resolved<CommonOptions>, listenerFilters: readonly JsonObject[], filterChains: readonly JsonObject[]): JsonObject {
  return {
    name,
    address: socketAddress('0.0.0.0', port),
    per_connection_buffer_limit_bytes: o.bufferLimitBytes,
    ...(listenerFilters.length > 0 ? { listener_filters: [...listenerFilters] } : {}),
    filter_chains: [...filterChains],
  };
}

const tlsInspector = (): JsonObject => extension(FILTER.tlsInspector, TYPE.tlsInspector);

const isIpLiteral = (host: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');

const loadAssignment = (cluster: string, host: string, port: number): JsonObject => ({
  cluster_name: cluster,
  endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(host, port) } }] }],
});

function gatewayCluster(o: Resolved<CommonOptions>): JsonObject {
  const { host, port } = o.gateway;
  return {
    name: GATEWAY_CLUSTER,
    type: isIpLiteral(host) ? 'STATIC' : 'STRICT_DNS',
    connect_timeout: o.connectTimeout,
    load_assignment: loadAssignment(GATEWAY_CLUSTER, host, port),
    typed_extension_protocol_options: {
      // Connections are recycled every 5 minutes (drained first), so they spread again over
      // gateway replicas that were added and `serve --workers` workers that were replaced.
      [TYPE.httpProtocolOptions]: typed(TYPE.httpProtocolOptions, { common_http_protocol_options: { max_connection_duration: '300s' }, explicit_http_config: { http2_protocol_options: {} } }),
    },
    // Envoy's default of 1024 concurrent requests would turn load into 403s (status_on_error).
    circuit_breakers: { thresholds: [{ max_connections: 100000, max_pending_requests: 100000, max_requests: 100000 }] },
    ...(o.gatewayHealthCheck
      ? { health_checks: [{ timeout: '1s', interval: '5s', unhealthy_threshold: 2, healthy_threshold: 1, grpc_health_check: {} }] }
      : {}),
  };
}

function dnsCluster(name: string, host: string, port: number, o: Resolved<CommonOptions>, transportSocket?: JsonObject): JsonObject {
  return {
    name,
    type: 'LOGICAL_DNS',
    dns_lookup_family: 'V4_PREFERRED',
    connect_timeout: o.connectTimeout,
    per_connection_buffer_limit_bytes: o.bufferLimitBytes,
    load_assignment: loadAssignment(name, host, port),
    ...(transportSocket === undefined ? {} : { transport_socket: transportSocket }),
  };
}

// Verify the provider's certificate against the system CAs and its DNS name: the injected secrets go there.
const upstreamTls = (host: string, caBundle: string): JsonObject => ({
  name: 'envoy.transport_sockets.tls',
  typed_config: typed(TYPE.upstreamTls, {
    sni: host,
    common_tls_context: {
      validation_context: {
        trusted_ca: { filename: caBundle },
        match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: host } }],
      },
    },
  }),
});

const bootstrap = (node: JsonObject, o: Resolved<CommonOptions>, listeners: readonly JsonObject[], clusters: readonly JsonObject[]): JsonObject => ({
  node,
  admin: { address: socketAddress('127.0.0.1', o.adminPort) },
  static_resources: { listeners: [...listeners], clusters: [...clusters] },
});

/** Lower-cased, de-duplicated DNS names; wildcards are refused (a per-host cluster needs a real name). */
function hostList(option: string, hosts: readonly string[]): string[] {
  const out = [...new Set(hosts.map((h) => h.toLowerCase()))];
  const bad = out.find((h) => !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(h));
  if (bad !== undefined) {
    throw new JochError('JOCH_ENVOY_OPTIONS', `${option}: "${bad}" is not a DNS host name`, { pointer: `/${option}` }, 'list exact host names; wildcards are not supported here');
  }
  return out;
}

const clusterName = (prefix: string, host: string): string => `${prefix}_${host.replace(/[^A-Za-z0-9]+/g, '_')}`;

// ---- the two shapes --------------------------------------------------------------------

/** Transparent sidecar: iptables sends outbound TCP to `outbound`; HTTP is checked and processed, TLS allow-listed by SNI. */
export function renderSidecar(opts: SidecarOptions): JsonObject {
  const o = resolve(opts);
  const identity = identityEntries(o.identity);
  const http = hcm(o, {
    statPrefix: 'outbound_http',
    httpFilters: [httpExtAuthz(o), httpExtProc(o, o.identity), extension(FILTER.router, TYPE.router)],
    virtualHosts: [
      {
        name: 'outbound',
        domains: ['*'],
        routes: [
          route(ORIGINAL_DST_CLUSTER, o.routeTimeout, {
            typed_per_filter_config: {
              [FILTER.extAuthz]: typed(TYPE.extAuthzPerRoute, { check_settings: { context_extensions: identity } }),
            },
          }),
        ],
      },
    ],
  });
  return bootstrap(
    { id: `${o.identity.agent}.${o.identity.namespace}`, cluster: 'joch-sidecar', metadata: { [IDENTITY_METADATA_KEY]: identity } },
    o,
    [
      listener('outbound', o.port, o, [extension(FILTER.originalDst, TYPE.originalDst), tlsInspector()], [
        { name: 'outbound_http', filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [http] },
        {
          name: 'outbound_tls',
          filter_chain_match: { transport_protocol: 'tls' },
          filters: [
            // No routes on opaque TLS, so identity travels as node metadata → `destination.labels`.
            networkExtAuthz(o, 'outbound_tls', { bootstrap_metadata_labels_key: IDENTITY_METADATA_KEY }),
            tcpProxy('outbound_tls', ORIGINAL_DST_CLUSTER),
          ],
        },
      ]),
    ],
    [
      { name: ORIGINAL_DST_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: o.connectTimeout, per_connection_buffer_limit_bytes: o.bufferLimitBytes },
      gatewayCluster(o),
    ],
  );
}

/** Standalone egress gateway: HTTP forward proxy with CONNECT, SNI allow-list, TLS origination to providers. */
export function renderEgressGateway(opts: EgressGatewayOptions = {}): JsonObject {
  const o = resolve(opts);
  const providers = hostList('providers', o.providers);
  const sniAllowlist = hostList('sniAllowlist', o.sniAllowlist);
  // One cache for the filter and the cluster: Envoy requires them to be identical.
  const dnsCache: JsonObject = { name: 'dynamic_forward_proxy_cache', dns_lookup_family: 'V4_PREFERRED', max_hosts: 1024 };
  // ext_authz sees the gateway's own listener as the destination address, not the upstream's:
  // say so, so that the gateway never matches address rules against it.
  const proxied = typed(TYPE.extAuthzPerRoute, { check_settings: { context_extensions: PROXY_MARK } });
  const providerHosts = providers.map((host) => ({
    name: clusterName('provider', host),
    // Agents call http://<provider>/ (port 80 or none); the gateway speaks TLS upstream.
    domains: [host, `${host}:80`],
    routes: [{ ...route(clusterName('provider', host), o.routeTimeout), typed_per_filter_config: { [FILTER.extAuthz]: proxied } }],
  }));
  const anyHost: JsonObject = {
    name: 'forward_proxy',
    domains: ['*'],
    routes: [
      {
        match: { connect_matcher: {} },
        route: { cluster: DFP_CLUSTER, timeout: '0s', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] },
        // A CONNECT tunnel is opaque and never ends: buffering it for ext_proc would stall it.
        typed_per_filter_config: { [FILTER.extAuthz]: proxied, [FILTER.extProc]: typed(TYPE.extProcPerRoute, { disabled: true }) },
      },
      { ...route(DFP_CLUSTER, o.routeTimeout), typed_per_filter_config: { [FILTER.extAuthz]: proxied } },
    ],
  };
  const http = hcm(o, {
    statPrefix: 'egress_http',
    httpFilters: [
      httpExtAuthz(o),
      httpExtProc(o),
      extension(FILTER.dfp, TYPE.dfpFilter, { dns_cache_config: dnsCache }),
      extension(FILTER.router, TYPE.router),
    ],
    virtualHosts: [...providerHosts, anyHost],
    extra: {
      // The gateway is its clients' edge: trust only the peer address.
      use_remote_address: true,
      http_protocol_options: { allow_absolute_url: true },
      http2_protocol_options: { allow_connect: true },
      upgrade_configs: [{ upgrade_type: 'CONNECT' }],
    },
  });
  // One chain per allowed SNI and no default chain: an unknown SNI matches nothing and is closed.
  const sniChains = sniAllowlist.map((host) => ({
    name: clusterName('sni', host),
    filter_chain_match: { server_names: [host], transport_protocol: 'tls' },
    filters: [networkExtAuthz(o, 'egress_tls', { bootstrap_metadata_labels_key: IDENTITY_METADATA_KEY }), tcpProxy('egress_tls', clusterName('sni', host))],
  }));
  return bootstrap(
    { id: 'joch-egress-gateway', cluster: 'joch-egress-gateway', metadata: { [IDENTITY_METADATA_KEY]: PROXY_MARK } },
    o,
    [
      listener('egress_http', o.httpPort, o, [], [{ name: 'egress_http', filters: [http] }]),
      // Envoy refuses a listener without filter chains: no allow-list, no TLS listener.
      ...(sniChains.length > 0 ? [listener('egress_tls', o.tlsPort, o, [tlsInspector()], sniChains)] : []),
    ],
    [
      gatewayCluster(o),
      {
        name: DFP_CLUSTER,
        connect_timeout: o.connectTimeout,
        per_connection_buffer_limit_bytes: o.bufferLimitBytes,
        lb_policy: 'CLUSTER_PROVIDED',
        cluster_type: { name: 'envoy.clusters.dynamic_forward_proxy', typed_config: typed(TYPE.dfpCluster, { dns_cache_config: dnsCache }) },
      },
      ...providers.map((host) => dnsCluster(clusterName('provider', host), host, 443, o, upstreamTls(host, o.caBundle))),
      ...sniAllowlist.map((host) => dnsCluster(clusterName('sni', host), host, 443, o)),
    ],
  );
}
