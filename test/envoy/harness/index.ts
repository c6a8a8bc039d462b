/**
 * A stand-in for Envoy's ext_authz HTTP filter (gRPC) and router on a sidecar listener, for
 * tests: see harness.ts. Test code only; it never ships in src/.
 */
export { EnvoyExtAuthzHarness, EXT_AUTHZ_METADATA_NAMESPACE, checkHeaders } from './harness.js';
export type { ExchangeResponse, ExtAuthzExchange, HarnessOptions, UpstreamAddress, UpstreamRequestRecord, CheckStatus } from './harness.js';
export { harnessSettingsFromBootstrap, toErrorCode, DEFAULT_EXT_AUTHZ_TIMEOUT_MS, DEFAULT_ROUTE_TIMEOUT_MS, EXT_AUTHZ_TYPE, EXT_AUTHZ_PER_ROUTE_TYPE, HCM_TYPE, ROUTER_TYPE } from './settings.js';
export type { BufferSettings, ExtAuthzSettings, HarnessSettings, LoadOptions, PerRouteConfig, RouteSettings, VirtualHostSettings } from './settings.js';
export { buildCheckRequest, sanitizeUtf8 } from './check-request.js';
export type { SocketAddress, StreamFacts } from './check-request.js';
export { EnvoyHeaderMap, MutationRulesChecker, headerNameIsValid, headerValueIsValid, isRemovableHeader } from './header-map.js';
export { HarnessConfigError, durationMs, normaliseMessage, structToJson } from './proto-json.js';
export type { Json, JsonObject } from './proto-json.js';
export { sendRequest } from './client.js';
export type { ClientRequest, ClientResponse } from './client.js';
export { sidecarBootstrap } from './fixtures.js';
export type { SidecarBootstrapOptions } from './fixtures.js';
export { ExtProcFilter, extProcSettings, modeFrom, DEFAULT_MESSAGE_TIMEOUT_MS, EXT_PROC_TYPE, EXT_PROC_PER_ROUTE_TYPE } from './ext-proc.js';
export type { ExtProcRecord, ExtProcSettings, LocalReplySpec, Mode } from './ext-proc.js';
