import { EXT_PROC_TYPE, extProcPerRoute, extProcSettings } from './ext-proc.js';
import type { ExtProcPerRoute, ExtProcSettings } from './ext-proc.js';
import { durationMs, enumNumber, HarnessConfigError, normaliseMessage } from './proto-json.js';
import type { Json, JsonObject } from './proto-json.js';

/**
 * The ext_authz HTTP filter's settings, read from an Envoy bootstrap the way Envoy reads them
 * (`source/extensions/filters/http/ext_authz/config.cc` and `FilterConfig` in `ext_authz.cc`).
 */

export const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
export const EXT_AUTHZ_PER_ROUTE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute';
export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const FILTER_CONFIG_TYPE = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

/** config.cc: `DefaultTimeout = 200` ms when grpc_service.timeout is not set. */
export const DEFAULT_EXT_AUTHZ_TIMEOUT_MS = 200;
/** Route timeout when `route.timeout` is not set (route_components.proto: "defaults to 15s"). */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

export interface BufferSettings {
  readonly maxRequestBytes: number;
  readonly allowPartialMessage: boolean;
  readonly packAsBytes: boolean;
}

export interface ExtAuthzSettings {
  /** The http_filters entry name; typed_per_filter_config is keyed by it. */
  readonly filterName: string;
  /** grpc_service.timeout; null when configured as 0s (no deadline). */
  readonly timeoutMs: number | null;
  /** envoy_grpc.cluster_name or google_grpc.target_uri, for reference (the harness dials `gateway`). */
  readonly grpcTarget: string | undefined;
  readonly initialMetadata: readonly (readonly [string, string])[];
  readonly failureModeAllow: boolean;
  readonly failureModeAllowHeaderAdd: boolean;
  /** HTTP status for errors; FilterConfig::toErrorCode maps anything outside 100..511 to 403. */
  readonly statusOnError: number;
  readonly withRequestBody: BufferSettings | undefined;
  readonly includePeerCertificate: boolean;
  readonly includeTlsSession: boolean;
  readonly validateMutations: boolean;
  readonly decoderHeaderMutationRules: JsonObject | undefined;
  readonly encodeRawHeaders: boolean;
  readonly allowedHeaders: readonly JsonObject[] | undefined;
  readonly disallowedHeaders: readonly JsonObject[] | undefined;
  readonly clearRouteCache: boolean;
  readonly enableDynamicMetadataIngestion: boolean;
  readonly destinationLabels: Readonly<Record<string, string>>;
  /** The typed_config, normalised to proto field names. */
  readonly raw: JsonObject;
}

/** An ExtAuthzPerRoute (or FilterConfig-wrapped) value found at one level of the route table. */
export interface PerRouteConfig {
  /** FilterConfig.disabled: the filter does not run at all for this route. */
  readonly filterDisabled: boolean;
  /** ExtAuthzPerRoute.disabled: the check is skipped. */
  readonly disabled: boolean;
  readonly checkSettings: JsonObject | undefined;
}

export interface RouteSettings {
  readonly name: string | undefined;
  readonly match: JsonObject;
  readonly timeoutMs: number;
  /** Per-filter configs from least to most specific: route configuration, virtual host, route. */
  readonly perFilter: readonly PerRouteConfig[];
  /** ExtProcPerRoute configs, least to most specific. */
  readonly extProcPerRoute: readonly ExtProcPerRoute[];
}

export interface VirtualHostSettings {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly RouteSettings[];
}

export interface HarnessSettings {
  readonly listenerName: string | undefined;
  readonly extAuthz: ExtAuthzSettings;
  /** The ext_proc filter after ext_authz, when the chain has one. */
  readonly extProc: ExtProcSettings | undefined;
  readonly virtualHosts: readonly VirtualHostSettings[];
  /** http_filters names, in order. */
  readonly httpFilters: readonly string[];
  /** HttpConnectionManager.server_name (default "envoy"). */
  readonly serverName: string;
  readonly serverHeaderTransformation: 'OVERWRITE' | 'APPEND_IF_ABSENT' | 'PASS_THROUGH';
  /** HttpConnectionManager.generate_request_id (default true). */
  readonly generateRequestId: boolean;
  /** Router.suppress_envoy_headers (default false). */
  readonly suppressEnvoyHeaders: boolean;
  /** Settings present in the config that the harness does not play (it ignores them). */
  readonly notEmulated: readonly string[];
  /** Any type URLs whose protos could not be found; their content was not checked. */
  readonly unresolvedAnyTypes: readonly string[];
}

export interface LoadOptions {
  /** Pick this listener; by default the first one with an ext_authz HTTP filter. */
  readonly listenerName?: string;
}

function obj(v: Json | undefined): JsonObject | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}
function arr(v: Json | undefined): Json[] {
  return Array.isArray(v) ? v : [];
}
function bool(v: Json | undefined, dflt = false): boolean {
  return typeof v === 'boolean' ? v : dflt;
}
function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function bufferSettings(v: JsonObject | undefined): BufferSettings | undefined {
  if (v === undefined) return undefined;
  return {
    maxRequestBytes: typeof v['max_request_bytes'] === 'number' ? v['max_request_bytes'] : 0,
    allowPartialMessage: bool(v['allow_partial_message']),
    packAsBytes: bool(v['pack_as_bytes']),
  };
}

export function parseBufferSettings(v: JsonObject | undefined): BufferSettings | undefined {
  return bufferSettings(v);
}

/** FilterConfig::toErrorCode: 100 (Continue) .. 511 (NetworkAuthenticationRequired), else 403. */
export function toErrorCode(code: number): number {
  return code >= 100 && code <= 511 ? code : 403;
}

function perFilterConfig(tpfc: JsonObject | undefined, filterName: string, pointer: string): PerRouteConfig[] {
  const v = obj(tpfc?.[filterName]);
  if (v === undefined) return [];
  let inner: JsonObject | undefined = v;
  let filterDisabled = false;
  if (v['@type'] === FILTER_CONFIG_TYPE) {
    filterDisabled = bool(v['disabled']);
    inner = obj(v['config']);
  }
  if (inner !== undefined && inner['@type'] !== EXT_AUTHZ_PER_ROUTE_TYPE) {
    throw new HarnessConfigError(`typed_per_filter_config for ${filterName} must be ${EXT_AUTHZ_PER_ROUTE_TYPE}, got ${String(inner['@type'])}`, pointer);
  }
  return [{ filterDisabled, disabled: bool(inner?.['disabled']), checkSettings: obj(inner?.['check_settings']) }];
}

/**
 * Reads the ext_authz HTTP filter settings, the route table and the connection-manager
 * settings the harness plays from an Envoy bootstrap (a parsed YAML/JSON object). The whole
 * bootstrap is checked against Envoy's protos first (unknown fields are errors, as in Envoy).
 */
export function harnessSettingsFromBootstrap(bootstrap: unknown, opts: LoadOptions = {}): HarnessSettings {
  const unresolved = new Set<string>();
  const boot = normaliseMessage('envoy.config.bootstrap.v3.Bootstrap', bootstrap, '', { unresolvedAny: unresolved });
  const notEmulated: string[] = [];

  const listeners = arr(obj(boot['static_resources'])?.['listeners']);
  let found: { listener: JsonObject; hcm: JsonObject; filter: JsonObject; pointer: string } | undefined;
  listeners.forEach((l, li) => {
    const listener = obj(l);
    if (listener === undefined || found !== undefined) return;
    if (opts.listenerName !== undefined && listener['name'] !== opts.listenerName) return;
    arr(listener['filter_chains']).forEach((c, ci) => {
      arr(obj(c)?.['filters']).forEach((f, fi) => {
        const hcm = obj(obj(f)?.['typed_config']);
        if (found !== undefined || hcm?.['@type'] !== HCM_TYPE) return;
        arr(hcm['http_filters']).forEach((hf, hi) => {
          const filter = obj(hf);
          if (found === undefined && obj(filter?.['typed_config'])?.['@type'] === EXT_AUTHZ_TYPE && filter !== undefined) {
            found = { listener, hcm, filter, pointer: `/static_resources/listeners/${li}/filter_chains/${ci}/filters/${fi}/typed_config/http_filters/${hi}` };
          }
        });
      });
    });
  });
  if (found === undefined) {
    throw new HarnessConfigError(
      `no listener${opts.listenerName !== undefined ? ` named "${opts.listenerName}"` : ''} has an HttpConnectionManager with an http_filters entry of type ${EXT_AUTHZ_TYPE}`,
      '/static_resources/listeners',
    );
  }
  const { listener, hcm, filter, pointer } = found;
  const filterName = str(filter['name']) ?? 'envoy.filters.http.ext_authz';
  const cfg = obj(filter['typed_config']) ?? {};

  // config.cc: only the gRPC client is played; the HTTP service mode is a different protocol.
  const grpc = obj(cfg['grpc_service']);
  if (grpc === undefined) throw new HarnessConfigError('the harness plays ext_authz with grpc_service only (http_service is not emulated)', `${pointer}/typed_config`);
  // config.cc → Config::Utility::checkTransportVersion: anything but V3 (AUTO included) is rejected.
  if (cfg['transport_api_version'] !== 'V3' && cfg['transport_api_version'] !== 2) {
    throw new HarnessConfigError('transport_api_version must be V3 (Envoy rejects V2 and AUTO: "V2 (and AUTO) xDS transport protocol versions are deprecated")', `${pointer}/typed_config/transport_api_version`);
  }
  const timeoutStr = str(grpc['timeout']);
  const timeoutMs = timeoutStr === undefined ? DEFAULT_EXT_AUTHZ_TIMEOUT_MS : durationMs(timeoutStr);
  const grpcTarget = str(obj(grpc['envoy_grpc'])?.['cluster_name']) ?? str(obj(grpc['google_grpc'])?.['target_uri']);
  const initialMetadata = arr(grpc['initial_metadata']).map((h) => [str(obj(h)?.['key']) ?? '', str(obj(h)?.['value']) ?? ''] as const);

  const soe = obj(cfg['status_on_error'])?.['code'];
  const statusOnError = toErrorCode(soe === undefined ? 0 : (enumNumber('envoy.type.v3.StatusCode', soe as string | number) ?? 0));

  const labelsKey = str(cfg['bootstrap_metadata_labels_key']);
  const destinationLabels: Record<string, string> = {};
  if (labelsKey !== undefined) {
    const labels = obj(obj(obj(boot['node'])?.['metadata'])?.[labelsKey]);
    for (const [k, v] of Object.entries(labels ?? {})) destinationLabels[k] = typeof v === 'string' ? v : '';
  }

  for (const k of ['filter_enabled', 'filter_enabled_metadata', 'deny_at_disable', 'metadata_context_namespaces', 'typed_metadata_context_namespaces', 'route_metadata_context_namespaces', 'route_typed_metadata_context_namespaces']) {
    if (cfg[k] !== undefined) notEmulated.push(`ext_authz.${k}`);
  }

  const patterns = (m: Json | undefined): JsonObject[] | undefined => (obj(m) === undefined ? undefined : arr(obj(m)?.['patterns']).map((p) => obj(p) ?? {}));
  const extAuthz: ExtAuthzSettings = {
    filterName,
    timeoutMs: timeoutMs === 0 ? null : timeoutMs,
    grpcTarget,
    initialMetadata,
    failureModeAllow: bool(cfg['failure_mode_allow']),
    failureModeAllowHeaderAdd: bool(cfg['failure_mode_allow_header_add']),
    statusOnError,
    withRequestBody: bufferSettings(obj(cfg['with_request_body'])),
    includePeerCertificate: bool(cfg['include_peer_certificate']),
    includeTlsSession: bool(cfg['include_tls_session']),
    validateMutations: bool(cfg['validate_mutations']),
    decoderHeaderMutationRules: obj(cfg['decoder_header_mutation_rules']),
    encodeRawHeaders: bool(cfg['encode_raw_headers']),
    allowedHeaders: patterns(cfg['allowed_headers']),
    disallowedHeaders: patterns(cfg['disallowed_headers']),
    clearRouteCache: bool(cfg['clear_route_cache']),
    enableDynamicMetadataIngestion: bool(cfg['enable_dynamic_metadata_ingestion'], true),
    destinationLabels,
    raw: cfg,
  };

  // The rest of the HTTP filter chain: the harness plays ext_authz and the router only.
  const httpFilters = arr(hcm['http_filters']).map((f) => str(obj(f)?.['name']) ?? '');
  let suppressEnvoyHeaders = false;
  for (const f of arr(hcm['http_filters'])) {
    const tc = obj(obj(f)?.['typed_config']);
    if (tc?.['@type'] === ROUTER_TYPE) suppressEnvoyHeaders = bool(tc['suppress_envoy_headers']);
    else if (tc?.['@type'] !== EXT_AUTHZ_TYPE && tc?.['@type'] !== EXT_PROC_TYPE) notEmulated.push(`http_filters.${str(obj(f)?.['name']) ?? '?'}`);
  }
  if (bool(hcm['use_remote_address'])) notEmulated.push('http_connection_manager.use_remote_address');
  if (hcm['rds'] !== undefined) throw new HarnessConfigError('rds is not emulated; use an inline route_config', pointer.replace(/\/http_filters\/\d+$/, '/rds'));

  const epFilter = arr(hcm['http_filters']).map(obj).find((f) => obj(f?.['typed_config'])?.['@type'] === EXT_PROC_TYPE);
  const bufferLimit = typeof listener['per_connection_buffer_limit_bytes'] === 'number' ? listener['per_connection_buffer_limit_bytes'] : undefined;
  const extProc = epFilter === undefined ? undefined : extProcSettings(epFilter, bufferLimit);
  notEmulated.push(...(extProc?.notEmulated ?? []));
  const epName = extProc?.filterName ?? 'envoy.filters.http.ext_proc';
  const epPer = (tpfc: Json | undefined): ExtProcPerRoute[] => {
    const v = extProcPerRoute(obj(obj(tpfc)?.[epName]));
    return v === undefined ? [] : [v];
  };
  const rc = obj(hcm['route_config']) ?? {};
  const rcPointer = pointer.replace(/\/http_filters\/\d+$/, '/route_config');
  const rcPer = perFilterConfig(obj(rc['typed_per_filter_config']), filterName, `${rcPointer}/typed_per_filter_config`);
  const virtualHosts: VirtualHostSettings[] = arr(rc['virtual_hosts']).map((vhv, vi) => {
    const vh = obj(vhv) ?? {};
    const vhPer = perFilterConfig(obj(vh['typed_per_filter_config']), filterName, `${rcPointer}/virtual_hosts/${vi}/typed_per_filter_config`);
    const routes: RouteSettings[] = arr(vh['routes']).map((rv, ri) => {
      const r = obj(rv) ?? {};
      const action = obj(r['route']);
      if (action === undefined) notEmulated.push(`route_config.virtual_hosts[${vi}].routes[${ri}]: only "route" actions are emulated`);
      const t = str(action?.['timeout']);
      const match = obj(r['match']) ?? {};
      for (const k of ['headers', 'query_parameters', 'grpc', 'tls_context', 'dynamic_metadata', 'runtime_fraction', 'connect_matcher', 'filter_state', 'path_match_policy']) {
        if (match[k] !== undefined) notEmulated.push(`route_config.virtual_hosts[${vi}].routes[${ri}].match.${k}`);
      }
      return {
        name: str(r['name']),
        match,
        timeoutMs: t === undefined ? DEFAULT_ROUTE_TIMEOUT_MS : durationMs(t),
        perFilter: [...rcPer, ...vhPer, ...perFilterConfig(obj(r['typed_per_filter_config']), filterName, `${rcPointer}/virtual_hosts/${vi}/routes/${ri}/typed_per_filter_config`)],
        extProcPerRoute: [...epPer(rc['typed_per_filter_config']), ...epPer(vh['typed_per_filter_config']), ...epPer(r['typed_per_filter_config'])],
      };
    });
    return { name: str(vh['name']) ?? '', domains: arr(vh['domains']).map((d) => String(d)), routes };
  });

  const sht = str(hcm['server_header_transformation']);
  return {
    listenerName: str(listener['name']),
    extAuthz,
    extProc,
    virtualHosts,
    httpFilters,
    serverName: str(hcm['server_name']) ?? 'envoy',
    serverHeaderTransformation: sht === 'APPEND_IF_ABSENT' || sht === 'PASS_THROUGH' ? sht : 'OVERWRITE',
    generateRequestId: bool(hcm['generate_request_id'], true),
    suppressEnvoyHeaders,
    notEmulated,
    unresolvedAnyTypes: [...unresolved],
  };
}
