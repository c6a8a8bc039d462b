import { EXT_AUTHZ_PER_ROUTE_TYPE, EXT_AUTHZ_TYPE, HCM_TYPE, ROUTER_TYPE } from './settings.js';

export interface SidecarBootstrapOptions {
  /** Fields merged into the ExtAuthz typed_config (over a gRPC service with timeout unset). */
  readonly extAuthz?: Record<string, unknown>;
  /** ExtAuthzPerRoute fields on the catch-all route (e.g. { check_settings: {...} }). */
  readonly routePerRoute?: Record<string, unknown>;
  /** ExtAuthzPerRoute fields on the virtual host. */
  readonly vhostPerRoute?: Record<string, unknown>;
  /** Extra routes placed before the catch-all route. */
  readonly extraRoutes?: readonly Record<string, unknown>[];
  /** Fields merged into the Router typed_config. */
  readonly router?: Record<string, unknown>;
  /** Fields merged into the HttpConnectionManager typed_config. */
  readonly hcm?: Record<string, unknown>;
  /** When set, an ext_proc filter (these ExternalProcessor fields over a gRPC service) after ext_authz. */
  readonly extProc?: Record<string, unknown>;
  /** ExtProcPerRoute fields on the catch-all route. */
  readonly extProcPerRoute?: Record<string, unknown>;
  /** The listener's per_connection_buffer_limit_bytes. */
  readonly bufferLimit?: number;
}

const perRoute = (fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined =>
  fields === undefined ? undefined : { 'envoy.filters.http.ext_authz': { '@type': EXT_AUTHZ_PER_ROUTE_TYPE, ...fields } };

/**
 * A small bootstrap of the shape we ship for the transparent sidecar (see ENVOY.md "Bootstrap
 * shapes"): original_dst listener filter, HCM with ext_authz then router, an ORIGINAL_DST
 * cluster and an HTTP/2 cluster for the gateway. Tests use it until envoy/sidecar.yaml exists.
 */
export function sidecarBootstrap(o: SidecarBootstrapOptions = {}): Record<string, unknown> {
  const route: Record<string, unknown> = { name: 'catch_all', match: { prefix: '/' }, route: { cluster: 'original_dst' } };
  const rp = perRoute(o.routePerRoute);
  if (rp !== undefined) route['typed_per_filter_config'] = rp;
  if (o.extProcPerRoute !== undefined) {
    route['typed_per_filter_config'] = { ...rp, 'envoy.filters.http.ext_proc': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute', ...o.extProcPerRoute } };
  }
  const extProc =
    o.extProc === undefined
      ? []
      : [{ name: 'envoy.filters.http.ext_proc', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor', grpc_service: { envoy_grpc: { cluster_name: 'joch_gateway' } }, ...o.extProc } }];
  const vhost: Record<string, unknown> = { name: 'egress', domains: ['*'], routes: [...(o.extraRoutes ?? []), route] };
  const vp = perRoute(o.vhostPerRoute);
  if (vp !== undefined) vhost['typed_per_filter_config'] = vp;
  return {
    node: { id: 'sidecar~agent-1', cluster: 'agents' },
    static_resources: {
      listeners: [
        {
          name: 'outbound',
          address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
          ...(o.bufferLimit !== undefined ? { per_connection_buffer_limit_bytes: o.bufferLimit } : {}),
          listener_filters: [{ name: 'envoy.filters.listener.original_dst', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } }],
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM_TYPE,
                    stat_prefix: 'outbound_http',
                    route_config: { name: 'outbound', virtual_hosts: [vhost] },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.ext_authz',
                        typed_config: {
                          '@type': EXT_AUTHZ_TYPE,
                          transport_api_version: 'V3',
                          grpc_service: { envoy_grpc: { cluster_name: 'joch_gateway' } },
                          ...o.extAuthz,
                        },
                      },
                      ...extProc,
                      { name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER_TYPE, ...o.router } },
                    ],
                    ...o.hcm,
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        { name: 'original_dst', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '1s' },
        {
          name: 'joch_gateway',
          type: 'STATIC',
          connect_timeout: '1s',
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: 'joch_gateway',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9001 } } } }] }],
          },
        },
      ],
    },
  };
}
