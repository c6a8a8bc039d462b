import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DFP_CLUSTER, FILTER, GATEWAY_CLUSTER, ORIGINAL_DST_CLUSTER, TYPE, renderEgressGateway, renderSidecar } from '../../src/envoy/bootstrap.js';
import type { JsonObject } from '../../src/envoy/bootstrap.js';
import { bootstrapRoot, checkBootstrap, checkBootstrapFile } from '../../src/envoy/bootstrap-check.js';
import type { BootstrapProblem } from '../../src/envoy/bootstrap-check.js';
import { EXAMPLE_IDENTITY, renderFiles } from '../../src/envoy/render-files.js';

const ENVOY_DIR = fileURLToPath(new URL('../../envoy/', import.meta.url));
const root = bootstrapRoot(); // loading the protos is the slow part: once for this file
const check = (config: unknown): BootstrapProblem[] => checkBootstrap(config, root);

// ---- navigating plain JSON without `any` --------------------------------------------------

type Node = Record<string, unknown>;
const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The object at `segments` under `root` (array indexes as numbers); fails the test if absent. */
function at(root: unknown, ...segments: (string | number)[]): Node {
  let cur: unknown = root;
  for (const s of segments) cur = Array.isArray(cur) && typeof s === 'number' ? cur[s] : isNode(cur) ? cur[String(s)] : undefined;
  if (!isNode(cur)) throw new Error(`no object at ${segments.join('.')}`);
  return cur;
}

function list(root: unknown, ...segments: (string | number)[]): unknown[] {
  const parent = at(root, ...segments.slice(0, -1));
  const v = parent[String(segments.at(-1))];
  if (!Array.isArray(v)) throw new Error(`no list at ${segments.join('.')}`);
  return v;
}

const clone = (o: JsonObject): Node => structuredClone(o) as Node;
const byName = (items: unknown[], name: string): Node => {
  const found = items.find((f) => isNode(f) && f.name === name);
  if (!isNode(found)) throw new Error(`no item named ${name}`);
  return found;
};

const sidecar = (): Node => clone(renderSidecar({ identity: EXAMPLE_IDENTITY }));
const HCM = ['static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config'] as const;
const HCM_PATH = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config';

// ---- the files we ship ------------------------------------------------------------------

describe('checked-in Envoy configs', () => {
  const files = readdirSync(ENVOY_DIR).filter((f) => /\.ya?ml$/.test(f));

  it('includes the sidecar and the egress gateway', () => {
    expect(files).toEqual(expect.arrayContaining(['sidecar.yaml', 'egress-gateway.yaml']));
  });

  it.each(files)('%s passes the proto check with no problems', (file) => {
    expect(checkBootstrapFile(join(ENVOY_DIR, file), root)).toEqual([]);
  });

  it.each(Object.entries(renderFiles()))('%s is what the renderer produces (else: npm run envoy:render)', (name, text) => {
    expect(readFileSync(join(ENVOY_DIR, name), 'utf8')).toBe(text);
  });

  it('every @type the renderer may use is in the loaded protos', () => {
    for (const type of Object.values(TYPE)) expect(() => root.lookupType(type), type).not.toThrow();
  });
});

describe('renderer options', () => {
  it('a DNS-named gateway gets a STRICT_DNS cluster; no health check when disabled', () => {
    const config = renderSidecar({ identity: EXAMPLE_IDENTITY, gateway: { host: 'joch.joch-system.svc' }, gatewayHealthCheck: false, authzTimeout: '0.5s' });
    expect(check(config)).toEqual([]);
    const gateway = byName(list(config, 'static_resources', 'clusters'), GATEWAY_CLUSTER);
    expect(gateway.type).toBe('STRICT_DNS');
    expect(gateway.health_checks).toBeUndefined();
    expect(at(gateway, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address')).toEqual({ address: 'joch.joch-system.svc', port_value: 9001 });
    expect(at(config, ...HCM, 'http_filters', 0, 'typed_config', 'grpc_service').timeout).toBe('0.5s');
  });

  it('an egress gateway with other hosts stays valid and follows its lists', () => {
    const config = renderEgressGateway({ sniAllowlist: ['api.example.com', 'hooks.slack.com'], providers: ['api.mistral.ai'], tlsPort: 8443 });
    expect(check(config)).toEqual([]);
    const tls = byName(list(config, 'static_resources', 'listeners'), 'egress_tls');
    expect(at(tls, 'address', 'socket_address').port_value).toBe(8443);
    expect(list(tls, 'filter_chains').map((c) => at(c, 'filter_chain_match').server_names)).toEqual([['api.example.com'], ['hooks.slack.com']]);
    expect(byName(list(config, 'static_resources', 'clusters'), 'provider_api_mistral_ai')).toBeDefined();
  });

  it('de-duplicates hosts, drops the TLS listener when nothing is allowed, and refuses wildcards', () => {
    const config = renderEgressGateway({ sniAllowlist: [], providers: ['API.openai.com', 'api.openai.com'] });
    expect(check(config)).toEqual([]);
    expect(list(config, 'static_resources', 'listeners').map((l) => at(l).name)).toEqual(['egress_http']);
    expect(list(config, 'static_resources', 'clusters').filter((c) => at(c).name === 'provider_api_openai_com')).toHaveLength(1);
    expect(() => renderEgressGateway({ sniAllowlist: ['*.zendesk.com'] })).toThrow(expect.objectContaining({ code: 'JOCH_ENVOY_OPTIONS' }));
  });
});

// ---- what the sidecar promises ----------------------------------------------------------

describe('sidecar settings', () => {
  const config = parse(readFileSync(join(ENVOY_DIR, 'sidecar.yaml'), 'utf8')) as unknown;
  const listener = at(config, 'static_resources', 'listeners', 0);
  const filters = list(config, ...HCM, 'http_filters');

  it('intercepts on 0.0.0.0:15001 with original_dst and tls_inspector', () => {
    expect(at(listener, 'address', 'socket_address')).toEqual({ address: '0.0.0.0', port_value: 15001 });
    expect(list(listener, 'listener_filters').map((f) => at(f).name)).toEqual([FILTER.originalDst, FILTER.tlsInspector]);
    expect(at(config, 'admin', 'address', 'socket_address')).toEqual({ address: '127.0.0.1', port_value: 15000 });
  });

  it('runs ext_authz, then ext_proc, then the router', () => {
    expect(filters.map((f) => at(f).name)).toEqual([FILTER.extAuthz, FILTER.extProc, FILTER.router]);
  });

  it('ext_authz fails closed with a 0.2s deadline and a 403 on error', () => {
    const authz = at(byName(filters, FILTER.extAuthz), 'typed_config');
    expect(authz.failure_mode_allow).toBe(false);
    expect(authz.transport_api_version).toBe('V3');
    expect(authz.include_peer_certificate).toBe(true);
    expect(at(authz, 'grpc_service')).toEqual({ envoy_grpc: { cluster_name: GATEWAY_CLUSTER }, timeout: '0.2s' });
    const code = at(authz, 'status_on_error').code;
    expect(root.lookupEnum('envoy.type.v3.StatusCode').values[String(code)]).toBe(403);
  });

  it('ext_proc fails closed, buffers bodies, and lets the server override the mode', () => {
    const proc = at(byName(filters, FILTER.extProc), 'typed_config');
    expect(proc.failure_mode_allow).toBe(false);
    expect(proc.message_timeout).toBe('0.2s');
    expect(proc.allow_mode_override).toBe(true);
    expect(at(proc, 'grpc_service', 'envoy_grpc').cluster_name).toBe(GATEWAY_CLUSTER);
    expect(at(proc, 'processing_mode')).toMatchObject({
      request_header_mode: 'SEND',
      response_header_mode: 'SEND',
      request_body_mode: 'BUFFERED',
      response_body_mode: 'BUFFERED',
      request_trailer_mode: 'SKIP',
      response_trailer_mode: 'SKIP',
    });
  });

  it('routes everything to the original destination with the agent identity as context extensions', () => {
    const route = at(config, ...HCM, 'route_config', 'virtual_hosts', 0, 'routes', 0);
    expect(at(route, 'route').cluster).toBe(ORIGINAL_DST_CLUSTER);
    const perRoute = at(route, 'typed_per_filter_config', FILTER.extAuthz);
    expect(perRoute['@type']).toBe(`type.googleapis.com/${TYPE.extAuthzPerRoute}`);
    expect(at(perRoute, 'check_settings', 'context_extensions')).toEqual({
      tenant: 'acme',
      namespace: 'support-platform',
      environment: 'prod',
      agent: 'support-bot',
      'agent-id': EXAMPLE_IDENTITY.agentId,
      framework: EXAMPLE_IDENTITY.framework,
      'label.env': 'prod',
      'label.team': 'support',
    });
  });

  it('logs the decision fields from ext_authz dynamic metadata', () => {
    const format = at(list(config, ...HCM, 'access_log')[0], 'typed_config', 'log_format', 'json_format');
    for (const key of ['decision_id', 'policy_id', 'policy_version', 'rule_id']) {
      expect(Object.values(format)).toContain(`%DYNAMIC_METADATA(envoy.filters.http.ext_authz:${key})%`);
    }
  });

  it('allow-lists opaque TLS with network ext_authz (with the TLS session) before tcp_proxy', () => {
    const chain = at(listener, 'filter_chains', 1);
    expect(at(chain, 'filter_chain_match').transport_protocol).toBe('tls');
    const [authz, proxy] = list(chain, 'filters');
    expect(at(authz, 'typed_config')).toMatchObject({ failure_mode_allow: false, include_tls_session: true, transport_api_version: 'V3', stat_prefix: 'outbound_tls' });
    expect(at(proxy).name).toBe(FILTER.tcpProxy);
    expect(at(proxy, 'typed_config').cluster).toBe(ORIGINAL_DST_CLUSTER);
  });

  it('has an ORIGINAL_DST cluster and an HTTP/2 gateway cluster', () => {
    const clusters = list(config, 'static_resources', 'clusters');
    expect(byName(clusters, ORIGINAL_DST_CLUSTER)).toMatchObject({ type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: '1s' });
    const gateway = byName(clusters, GATEWAY_CLUSTER);
    expect(at(gateway, 'typed_extension_protocol_options', TYPE.httpProtocolOptions, 'explicit_http_config', 'http2_protocol_options')).toEqual({});
    expect(at(gateway, 'health_checks', 0, 'grpc_health_check')).toEqual({});
  });
});

describe('egress gateway settings', () => {
  const config = parse(readFileSync(join(ENVOY_DIR, 'egress-gateway.yaml'), 'utf8')) as unknown;
  const listeners = list(config, 'static_resources', 'listeners');
  const hcm = at(byName(listeners, 'egress_http'), 'filter_chains', 0, 'filters', 0, 'typed_config');

  it('runs ext_authz, ext_proc, the dynamic forward proxy, then the router; accepts CONNECT', () => {
    expect(list(hcm, 'http_filters').map((f) => at(f).name)).toEqual([FILTER.extAuthz, FILTER.extProc, FILTER.dfp, FILTER.router]);
    expect(hcm.upgrade_configs).toEqual([{ upgrade_type: 'CONNECT' }]);
    const forward = byName(list(hcm, 'route_config', 'virtual_hosts'), 'forward_proxy');
    const connect = at(forward, 'routes', 0);
    expect(at(connect, 'match')).toEqual({ connect_matcher: {} });
    expect(at(connect, 'route').cluster).toBe(DFP_CLUSTER);
    expect(at(connect, 'typed_per_filter_config', FILTER.extProc).disabled).toBe(true);
  });

  it('refuses unknown SNI: one chain per allowed name and no default chain', () => {
    const tls = byName(listeners, 'egress_tls');
    expect(tls.default_filter_chain).toBeUndefined();
    expect(list(tls, 'filter_chains').flatMap((c) => at(c, 'filter_chain_match').server_names)).toEqual(['api.openai.com', 'api.anthropic.com']);
  });

  it('originates verified TLS to each provider that plain-HTTP calls are routed to', () => {
    const vhost = byName(list(hcm, 'route_config', 'virtual_hosts'), 'provider_api_openai_com');
    expect(vhost.domains).toContain('api.openai.com');
    expect(at(vhost, 'routes', 0, 'route').cluster).toBe('provider_api_openai_com');
    const tls = at(byName(list(config, 'static_resources', 'clusters'), 'provider_api_openai_com'), 'transport_socket', 'typed_config');
    expect(tls.sni).toBe('api.openai.com');
    expect(at(tls, 'common_tls_context', 'validation_context', 'trusted_ca').filename).toBe('/etc/ssl/certs/ca-certificates.crt');
  });
});

// ---- the checker catches what Envoy would refuse ----------------------------------------

describe('checkBootstrap finds each problem at its path', () => {
  const cases: [string, (c: Node) => void, string, RegExp][] = [
    [
      'misspelt top-level field',
      (c) => {
        c.static_resource = c.static_resources;
        delete c.static_resources;
      },
      'static_resource',
      /unknown field "static_resource".*did you mean "static_resources"/,
    ],
    [
      'misspelt field inside a typed_config',
      (c) => {
        at(c, ...HCM, 'http_filters', 0, 'typed_config').failure_mode_alow = false;
      },
      `${HCM_PATH}.http_filters[0].typed_config.failure_mode_alow`,
      /unknown field "failure_mode_alow" in envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz; did you mean "failure_mode_allow"/,
    ],
    [
      'unknown @type',
      (c) => {
        at(c, ...HCM, 'http_filters', 1, 'typed_config')['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcesor';
      },
      `${HCM_PATH}.http_filters[1].typed_config["@type"]`,
      /unknown message type .*did you mean "envoy\.extensions\.filters\.http\.ext_proc\.v3\.ExternalProcessor"/,
    ],
    [
      'bad enum value',
      (c) => {
        at(c, 'static_resources', 'clusters', 0).lb_policy = 'CLUSTER_PROVIDE';
      },
      'static_resources.clusters[0].lb_policy',
      /unknown value "CLUSTER_PROVIDE" for enum envoy\.config\.cluster\.v3\.Cluster\.LbPolicy/,
    ],
    [
      'Duration without "s"',
      (c) => {
        at(c, ...HCM, 'http_filters', 0, 'typed_config', 'grpc_service').timeout = '0.2';
      },
      `${HCM_PATH}.http_filters[0].typed_config.grpc_service.timeout`,
      /expected a Duration/,
    ],
    [
      'route to an undefined cluster',
      (c) => {
        at(c, ...HCM, 'route_config', 'virtual_hosts', 0, 'routes', 0, 'route').cluster = 'original_destinaton';
      },
      `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].route.cluster`,
      /cluster "original_destinaton" is not defined.*did you mean "original_destination"/,
    ],
    [
      'router not last',
      (c) => {
        const filters = list(c, ...HCM, 'http_filters');
        [filters[1], filters[2]] = [filters[2], filters[1]];
      },
      `${HCM_PATH}.http_filters[1]`,
      /envoy\.filters\.http\.router must be the last HTTP filter/,
    ],
    [
      'ext_proc before ext_authz',
      (c) => {
        const filters = list(c, ...HCM, 'http_filters');
        [filters[0], filters[1]] = [filters[1], filters[0]];
      },
      `${HCM_PATH}.http_filters[0]`,
      /ext_proc \(at \[0\]\) must come after envoy\.filters\.http\.ext_authz/,
    ],
    [
      'two members of one oneof',
      (c) => {
        at(c, ...HCM, 'route_config', 'virtual_hosts', 0, 'routes', 0, 'match').path = '/v1';
      },
      `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].match.path`,
      /"path" and "prefix" are both set.*oneof "path_specifier"/,
    ],
    [
      'wrong scalar type',
      (c) => {
        at(c, ...HCM, 'http_filters', 0, 'typed_config').failure_mode_allow = 'false';
      },
      `${HCM_PATH}.http_filters[0].typed_config.failure_mode_allow`,
      /expected true or false, got a string/,
    ],
    [
      'a single value where a list is expected',
      (c) => {
        at(c, ...HCM, 'route_config', 'virtual_hosts', 0).domains = '*';
      },
      `${HCM_PATH}.route_config.virtual_hosts[0].domains`,
      /expected a list/,
    ],
    [
      'a non-string map value',
      (c) => {
        at(c, ...HCM, 'route_config', 'virtual_hosts', 0, 'routes', 0, 'typed_per_filter_config', FILTER.extAuthz, 'check_settings', 'context_extensions').tenant = 7;
      },
      `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].typed_per_filter_config["envoy.filters.http.ext_authz"].check_settings.context_extensions.tenant`,
      /expected a string, got a number/,
    ],
    [
      'an integer out of range',
      (c) => {
        at(c, 'admin', 'address', 'socket_address').port_value = -1;
      },
      'admin.address.socket_address.port_value',
      /out of range for uint32/,
    ],
    [
      'a required field missing (PGV)',
      (c) => {
        delete at(c, 'static_resources', 'clusters', 1, 'health_checks', 0).interval;
      },
      'static_resources.clusters[1].health_checks[0].interval',
      /missing required field "interval" in envoy\.config\.core\.v3\.HealthCheck/,
    ],
    [
      'an empty stat_prefix (PGV min_len)',
      (c) => {
        at(c, 'static_resources', 'listeners', 0, 'filter_chains', 1, 'filters', 0, 'typed_config').stat_prefix = '';
      },
      'static_resources.listeners[0].filter_chains[1].filters[0].typed_config.stat_prefix',
      /must be at least 1 character/,
    ],
    [
      'a terminal network filter before ext_authz',
      (c) => {
        list(c, 'static_resources', 'listeners', 0, 'filter_chains', 1, 'filters').reverse();
      },
      'static_resources.listeners[0].filter_chains[1].filters[0]',
      /terminal network filter must be last/,
    ],
    [
      'a duplicate cluster name',
      (c) => {
        at(c, 'static_resources', 'clusters', 1).name = ORIGINAL_DST_CLUSTER;
      },
      'static_resources.clusters[1].name',
      /duplicate cluster name "original_destination"/,
    ],
    [
      'a deprecated field',
      (c) => {
        at(c, 'static_resources', 'clusters', 1).http2_protocol_options = {};
      },
      'static_resources.clusters[1].http2_protocol_options',
      /deprecated/,
    ],
  ];

  it.each(cases)('%s', (_name, mutate, path, message) => {
    const config = sidecar();
    mutate(config);
    const problems = check(config);
    expect(problems.map((p) => p.path)).toContain(path);
    expect(problems.find((p) => p.path === path)?.message).toMatch(message);
  });

  it('reports every problem, not just the first', () => {
    const independent = cases.filter(([name]) => !/top-level|router|ext_proc before|terminal|duplicate/.test(name));
    const config = sidecar();
    for (const [, mutate] of independent) mutate(config);
    expect(check(config).map((p) => p.path).sort()).toEqual(independent.map(([, , path]) => path).sort());
  });

  it('accepts lowerCamel JSON names, as Envoy does, but not both names of one field', () => {
    const config = sidecar();
    config.staticResources = config.static_resources;
    delete config.static_resources;
    at(config, 'staticResources', 'clusters', 0).connectTimeout = '2s';
    delete at(config, 'staticResources', 'clusters', 0).connect_timeout;
    expect(check(config)).toEqual([]);
    at(config, 'staticResources', 'clusters', 0).connect_timeout = '2s';
    expect(check(config)).toEqual([{ path: 'staticResources.clusters[0].connect_timeout', message: expect.stringMatching(/repeats field "connectTimeout"/) }]);
  });

  it('takes free JSON in Struct fields and integers as strings', () => {
    const config = sidecar();
    at(config, 'node', 'metadata').extra = { nested: [1, 'two', { three: null }], flag: true };
    at(config, 'admin', 'address', 'socket_address').port_value = '15000';
    expect(check(config)).toEqual([]);
  });

  it('refuses an Any without @type and a non-object config', () => {
    const config = sidecar();
    delete at(config, ...HCM, 'http_filters', 2, 'typed_config')['@type'];
    expect(check(config)).toEqual([{ path: `${HCM_PATH}.http_filters[2].typed_config["@type"]`, message: expect.stringMatching(/missing "@type"/) }]);
    expect(check([])).toEqual([{ path: '', message: expect.stringMatching(/expected an object \(envoy\.config\.bootstrap\.v3\.Bootstrap\)/) }]);
  });

  it('reports YAML syntax errors from a file with their line', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'joch-envoy-')), 'bad.yaml');
    writeFileSync(file, 'admin:\n  address: [\n');
    const problems = checkBootstrapFile(file, root);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]?.message).toMatch(/bad\.yaml:\d+:\d+: /);
  });
});
