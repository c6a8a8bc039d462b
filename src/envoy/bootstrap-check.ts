import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { parseDocument } from 'yaml';
import { didYouMean } from '../policy/suggest.js';
import { FILTER, TYPE } from './bootstrap.js';
import { loadEnvoyRoot } from './protos.js';

/**
 * Checks an Envoy bootstrap (parsed YAML/JSON) against Envoy's own protos, the way Envoy's
 * loader would (proto3 JSON mapping, `@type` resolution, PGV `required`/`min_len` rules), plus
 * the cross-references and filter order that proto validation alone cannot see. With no Envoy
 * binary here, this is what stands between a typo and a gateway that does not start.
 */

export interface BootstrapProblem {
  /** Where, as a JS-style path into the document: `static_resources.clusters[0].lb_policy`. */
  readonly path: string;
  readonly message: string;
}

/** Every proto file defining a message our configs name in `@type`. A new extension goes here. */
export const BOOTSTRAP_PROTO_FILES: readonly string[] = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto',
  'envoy/extensions/filters/http/dynamic_forward_proxy/v3/dynamic_forward_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/clusters/dynamic_forward_proxy/v3/cluster.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
];

const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

let cachedRoot: protobuf.Root | undefined;

/** The Root over BOOTSTRAP_PROTO_FILES, loaded once per process (it takes a few hundred ms). */
export function bootstrapRoot(): protobuf.Root {
  cachedRoot ??= loadEnvoyRoot(BOOTSTRAP_PROTO_FILES);
  return cachedRoot;
}

/** Every problem in `config`, in document order; empty when Envoy would accept it. */
export function checkBootstrap(config: unknown, root: protobuf.Root = bootstrapRoot()): BootstrapProblem[] {
  const checker = new Checker(root);
  checker.message(root.lookupType(BOOTSTRAP_TYPE), config, '');
  checker.finish();
  return checker.problems;
}

/** Parses a YAML (or JSON) bootstrap file and checks it; YAML syntax errors are problems too. */
export function checkBootstrapFile(file: string, root?: protobuf.Root): BootstrapProblem[] {
  const doc = parseDocument(readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) {
    return doc.errors.map((e) => {
      const at = e.linePos?.[0];
      return { path: '', message: `${file}${at ? `:${at.line}:${at.col}` : ''}: ${e.message}` };
    });
  }
  return checkBootstrap(doc.toJS(), root);
}

// ---- paths and small helpers -----------------------------------------------------------

const keyPath = (path: string, key: string): string =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (path === '' ? key : `${path}.${key}`) : `${path}[${JSON.stringify(key)}]`;
const indexPath = (path: string, i: number): string => `${path}[${i}]`;

type JsonMap = Record<string, unknown>;
const isObject = (v: unknown): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v);

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  return `${typeof v === 'string' ? 'a string' : `a ${typeof v}`} (${JSON.stringify(v)})`;
}

const nameOf = (t: protobuf.ReflectionObject): string => t.fullName.replace(/^\./, '');

/** protoc's JSON name: `foo_bar` → `fooBar`. */
const jsonName = (name: string): string => name.replace(/_(.)/g, (_, c: string) => c.toUpperCase());

const fieldIndexes = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

/** Fields by proto name and by JSON name: Envoy accepts both. */
function fieldIndex(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = fieldIndexes.get(type);
  if (index === undefined) {
    index = new Map();
    for (const f of type.fieldsArray) index.set(f.name, f).set(jsonName(f.name), f);
    fieldIndexes.set(type, index);
  }
  return index;
}

/** The value of a field under either of its names, with the key actually used. */
function pick(obj: JsonMap, protoName: string): [string, unknown] | undefined {
  for (const key of [protoName, jsonName(protoName)]) if (obj[key] !== undefined && obj[key] !== null) return [key, obj[key]];
  return undefined;
}

function toInteger(v: unknown): bigint | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  return undefined;
}

const INT_RANGES: Record<string, readonly [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/** Why `v` is not a valid proto3-JSON value of scalar `type`, or undefined when it is. */
function scalarError(type: string, v: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof v === 'string' ? undefined : `expected a string, got ${describe(v)}`;
    case 'bool':
      return typeof v === 'boolean' ? undefined : `expected true or false, got ${describe(v)}`;
    case 'bytes':
      return typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v) ? undefined : `expected base64 bytes, got ${describe(v)}`;
    case 'double':
    case 'float':
      if (typeof v === 'number' || (typeof v === 'string' && (/^(NaN|-?Infinity)$/.test(v) || (v.trim() !== '' && Number.isFinite(Number(v)))))) return undefined;
      return `expected a number, got ${describe(v)}`;
  }
  const range = INT_RANGES[type];
  if (range === undefined) return `unsupported scalar type ${type}`;
  const n = toInteger(v);
  if (n === undefined) return `expected an integer (${type}), got ${describe(v)}`;
  return n < range[0] || n > range[1] ? `${n} is out of range for ${type}` : undefined;
}

const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.ListValue',
  'google.protobuf.Value',
]);

/** Well-known types whose JSON form is not an object of their fields; undefined = valid, false = not special. */
function wellKnownError(name: string, v: unknown): string | undefined | false {
  if (!SPECIAL_JSON.has(name)) return false;
  const wrapped = WRAPPERS[name];
  if (wrapped !== undefined) return scalarError(wrapped, v);
  switch (name) {
    case 'google.protobuf.Duration':
      return typeof v === 'string' && DURATION.test(v) ? undefined : `expected a Duration like "0.2s" (seconds with an "s" suffix), got ${describe(v)}`;
    case 'google.protobuf.Timestamp':
      return typeof v === 'string' && TIMESTAMP.test(v) ? undefined : `expected an RFC 3339 timestamp, got ${describe(v)}`;
    case 'google.protobuf.FieldMask':
      return typeof v === 'string' ? undefined : `expected a field mask string, got ${describe(v)}`;
    case 'google.protobuf.Struct':
      return isObject(v) ? undefined : `expected an object (Struct), got ${describe(v)}`;
    case 'google.protobuf.ListValue':
      return Array.isArray(v) ? undefined : `expected a list (ListValue), got ${describe(v)}`;
  }
  return undefined; // google.protobuf.Value: any JSON
}

// ---- Envoy semantics the protos do not carry -------------------------------------------

/** Fields that name a cluster, as `<message>.<field>`. */
const CLUSTER_REFS = new Set([
  'envoy.config.route.v3.RouteAction.cluster',
  'envoy.config.route.v3.WeightedCluster.ClusterWeight.name',
  'envoy.config.core.v3.GrpcService.EnvoyGrpc.cluster_name',
  'envoy.config.core.v3.HttpUri.cluster',
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.cluster',
  'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight.name',
]);

type FilterKind = 'extAuthz' | 'extProc' | 'router' | 'terminal' | 'networkExtAuthz';
const FILTER_KINDS: Record<string, FilterKind> = {
  [TYPE.extAuthz]: 'extAuthz',
  [FILTER.extAuthz]: 'extAuthz',
  [TYPE.extProc]: 'extProc',
  [FILTER.extProc]: 'extProc',
  [TYPE.router]: 'router',
  [FILTER.router]: 'router',
  [TYPE.hcm]: 'terminal',
  [FILTER.hcm]: 'terminal',
  [TYPE.tcpProxy]: 'terminal',
  [FILTER.tcpProxy]: 'terminal',
  [TYPE.networkExtAuthz]: 'networkExtAuthz',
  [FILTER.networkExtAuthz]: 'networkExtAuthz',
};

/** A filter's kind by its `@type` (what Envoy goes by), else by its name. */
function kindOf(filter: unknown): FilterKind | undefined {
  if (!isObject(filter)) return undefined;
  const config = pick(filter, 'typed_config')?.[1];
  const url = isObject(config) ? config['@type'] : undefined;
  const byType = typeof url === 'string' ? FILTER_KINDS[url.slice(url.lastIndexOf('/') + 1)] : undefined;
  return byType ?? (typeof filter.name === 'string' ? FILTER_KINDS[filter.name] : undefined);
}

/** Index of the first filter of `kind`, or -1. */
const firstOf = (kinds: readonly (FilterKind | undefined)[], kind: FilterKind): number => kinds.indexOf(kind);

// ---- the walker ------------------------------------------------------------------------

class Checker {
  readonly problems: BootstrapProblem[] = [];
  private readonly clusterRefs: { name: string; path: string }[] = [];
  private readonly clusters = new Set<string>();
  private dynamicClusters = false;
  private typeNames: string[] | undefined;

  constructor(private readonly root: protobuf.Root) {}

  private report(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  message(type: protobuf.Type, v: unknown, path: string): void {
    const name = nameOf(type);
    if (name === 'google.protobuf.Any') return this.any(v, path);
    const wellKnown = wellKnownError(name, v);
    if (wellKnown !== false) {
      if (wellKnown !== undefined) this.report(path, wellKnown);
      return;
    }
    if (!isObject(v)) return this.report(path, `expected an object (${name}), got ${describe(v)}`);
    this.fields(type, v, path, false);
  }

  private fields(type: protobuf.Type, obj: JsonMap, path: string, isAny: boolean): void {
    const name = nameOf(type);
    const index = fieldIndex(type);
    const keyFor = new Map<protobuf.Field, string>();
    const oneofs = new Map<string, string>();
    for (const [key, v] of Object.entries(obj)) {
      if (isAny && key === '@type') continue;
      const p = keyPath(path, key);
      const field = index.get(key);
      if (field === undefined) {
        this.unknownField(type, key, p);
        continue;
      }
      const earlier = keyFor.get(field);
      if (earlier !== undefined) {
        this.report(p, `"${key}" repeats field "${earlier}" (proto and JSON names of one field)`);
        continue;
      }
      if (v === null || v === undefined) continue; // proto3 JSON: null means "not set"
      keyFor.set(field, key);
      if (field.options?.deprecated === true) this.report(p, `"${key}" is deprecated in ${name}; Envoy warns or refuses it`);
      const oneof = field.partOf;
      if (oneof !== null) {
        const other = oneofs.get(oneof.name);
        if (other !== undefined) this.report(p, `"${key}" and "${other}" are both set, but they belong to oneof "${oneof.name}" of ${name}: set only one`);
        else oneofs.set(oneof.name, key);
      }
      this.field(name, field, v, p);
    }
    this.validateRules(type, obj, keyFor, oneofs, path);
    this.semantics(name, obj, path);
  }

  private unknownField(type: protobuf.Type, key: string, path: string): void {
    const name = nameOf(type);
    if (type.reserved?.includes(key)) return this.report(path, `"${key}" was removed from ${name} (reserved); see Envoy's API changelog`);
    const guess = didYouMean(key, type.fieldsArray.map((f) => f.name));
    this.report(path, `unknown field "${key}" in ${name}${guess ? `; did you mean "${guess}"?` : ''}`);
  }

  private field(owner: string, field: protobuf.Field, v: unknown, path: string): void {
    if (field instanceof protobuf.MapField) {
      if (!isObject(v)) return this.report(path, `expected an object (map), got ${describe(v)}`);
      const keyType = field.keyType;
      for (const [k, item] of Object.entries(v)) {
        const p = keyPath(path, k);
        if (keyType !== 'string') {
          const bad = keyType === 'bool' ? (k === 'true' || k === 'false' ? undefined : `map key must be "true" or "false"`) : scalarError(keyType, k);
          if (bad !== undefined) this.report(p, `bad map key: ${bad}`);
        }
        this.value(field, item, p);
      }
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(v)) return this.report(path, `expected a list (repeated ${field.name}), got ${describe(v)}`);
      v.forEach((item, i) => (item === null ? this.report(indexPath(path, i), 'null is not allowed in a list') : this.value(field, item, indexPath(path, i))));
      return;
    }
    this.value(field, v, path);
    if (typeof v === 'string' && CLUSTER_REFS.has(`${owner}.${field.name}`)) this.clusterRefs.push({ name: v, path });
  }

  private value(field: protobuf.Field, v: unknown, path: string): void {
    const t = field.resolvedType;
    if (t instanceof protobuf.Type) return this.message(t, v, path);
    if (t instanceof protobuf.Enum) return this.enumValue(t, v, path);
    const bad = scalarError(field.type, v);
    if (bad !== undefined) this.report(path, bad);
  }

  private enumValue(e: protobuf.Enum, v: unknown, path: string): void {
    const name = nameOf(e);
    const names = Object.keys(e.values);
    if (typeof v === 'string') {
      if (!(v in e.values)) {
        const guess = didYouMean(v, names);
        this.report(path, `unknown value "${v}" for enum ${name}${guess ? `; did you mean "${guess}"?` : ''} (one of ${names.join(', ')})`);
      } else if (e.valuesOptions?.[v]?.deprecated === true) this.report(path, `enum value "${v}" of ${name} is deprecated`);
      return;
    }
    if (typeof v === 'number' && Number.isInteger(v)) {
      if (!Object.values(e.values).includes(v)) this.report(path, `${v} is not a value of enum ${name}`);
      return;
    }
    this.report(path, `expected an enum name of ${name} (one of ${names.join(', ')}), got ${describe(v)}`);
  }

  /** `{"@type": "type.googleapis.com/<message>", ...fields}` (or `value` for well-known types). */
  private any(v: unknown, path: string): void {
    if (!isObject(v)) return this.report(path, `expected an object with "@type" (Any), got ${describe(v)}`);
    const typePath = keyPath(path, '@type');
    const url = v['@type'];
    if (typeof url !== 'string') return this.report(typePath, `missing "@type" (a type URL such as "type.googleapis.com/${TYPE.router}")`);
    const slash = url.lastIndexOf('/');
    if (slash < 0) return this.report(typePath, `"${url}" is not a type URL; write "type.googleapis.com/${url}"`);
    const typeName = url.slice(slash + 1);
    const type = this.root.lookup(typeName);
    if (!(type instanceof protobuf.Type)) {
      const guess = didYouMean(typeName, this.allTypeNames().filter((n) => n.startsWith(typeName.slice(0, typeName.lastIndexOf('.') + 1))));
      return this.report(
        typePath,
        `unknown message type "${typeName}"${guess ? `; did you mean "${guess}"?` : ' (not in Envoy\'s protos, or its file is missing from BOOTSTRAP_PROTO_FILES)'}`,
      );
    }
    if (SPECIAL_JSON.has(nameOf(type))) {
      for (const key of Object.keys(v)) if (key !== '@type' && key !== 'value') this.report(keyPath(path, key), `unknown field "${key}" in an Any of ${typeName} (only "value")`);
      return this.message(type, v.value, keyPath(path, 'value'));
    }
    this.fields(type, v, path, true);
  }

  private allTypeNames(): string[] {
    if (this.typeNames === undefined) {
      const names: string[] = [];
      const visit = (ns: protobuf.NamespaceBase): void => {
        for (const nested of ns.nestedArray) {
          if (nested instanceof protobuf.Type) names.push(nameOf(nested));
          if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) visit(nested);
        }
      };
      visit(this.root);
      this.typeNames = names;
    }
    return this.typeNames;
  }

  /** The PGV rules Envoy enforces on load that most often bite: required messages and oneofs, non-empty strings and lists. */
  private validateRules(type: protobuf.Type, obj: JsonMap, keyFor: Map<protobuf.Field, string>, oneofs: Map<string, string>, path: string): void {
    const name = nameOf(type);
    for (const field of type.fieldsArray) {
      const opts = field.options;
      if (opts === undefined || field.partOf !== null) continue; // oneof members: only checked when set
      const key = keyFor.get(field);
      const v = key === undefined ? undefined : obj[key];
      const p = keyPath(path, key ?? field.name);
      const required = ['message', 'duration', 'timestamp', 'any'].some((k) => opts[`(validate.rules).${k}.required`] === true);
      if (required && v === undefined) this.report(p, `missing required field "${field.name}" in ${name}`);
      const minLen = opts['(validate.rules).string.min_len'] ?? opts['(validate.rules).string.min_bytes'];
      if (typeof minLen === 'number' && (typeof v === 'string' || v === undefined) && (v ?? '').length < minLen) {
        this.report(p, `"${field.name}" in ${name} must be at least ${minLen} character(s)`);
      }
      const minItems = opts['(validate.rules).repeated.min_items'];
      if (typeof minItems === 'number' && (Array.isArray(v) || v === undefined) && (v ?? []).length < minItems) {
        this.report(p, `"${field.name}" in ${name} needs at least ${minItems} item(s)`);
      }
    }
    for (const oneof of type.oneofsArray) {
      if (oneof.options?.['(validate.required)'] === true && !oneofs.has(oneof.name)) {
        this.report(path, `${name} needs one of ${oneof.oneof.map((f) => `"${f}"`).join(', ')} (oneof "${oneof.name}")`);
      }
    }
  }

  private semantics(name: string, obj: JsonMap, path: string): void {
    if (name === 'envoy.config.bootstrap.v3.Bootstrap.StaticResources') this.definitions(obj, path);
    else if (name === 'envoy.config.bootstrap.v3.Bootstrap.DynamicResources') this.dynamicClusters ||= pick(obj, 'cds_config') !== undefined;
    else if (name === TYPE.hcm) this.httpFilterOrder(obj, path);
    else if (name === 'envoy.config.listener.v3.FilterChain') this.networkFilterOrder(obj, path);
  }

  private definitions(obj: JsonMap, path: string): void {
    for (const [field, kind] of [['clusters', 'cluster'], ['listeners', 'listener']] as const) {
      const [key, list] = pick(obj, field) ?? [];
      if (key === undefined || !Array.isArray(list)) continue;
      const seen = new Set<string>();
      list.forEach((item, i) => {
        const n = isObject(item) ? item.name : undefined;
        if (typeof n !== 'string') return;
        if (seen.has(n)) this.report(keyPath(indexPath(keyPath(path, key), i), 'name'), `duplicate ${kind} name "${n}"`);
        seen.add(n);
        if (kind === 'cluster') this.clusters.add(n);
      });
    }
  }

  /** Router last; ext_authz (the decision) before ext_proc (payload work) before the router. */
  private httpFilterOrder(obj: JsonMap, path: string): void {
    const [key, filters] = pick(obj, 'http_filters') ?? [];
    if (key === undefined || !Array.isArray(filters) || filters.length === 0) return;
    const at = (i: number): string => indexPath(keyPath(path, key), i);
    const kinds = filters.map(kindOf);
    const router = firstOf(kinds, 'router');
    if (router < 0) this.report(keyPath(path, key), `http_filters must end with ${FILTER.router}`);
    else if (router !== filters.length - 1) this.report(at(router), `${FILTER.router} must be the last HTTP filter (it is ${router + 1} of ${filters.length}); filters after it never run`);
    const authz = firstOf(kinds, 'extAuthz');
    const proc = firstOf(kinds, 'extProc');
    if (authz >= 0 && proc >= 0 && proc < authz) {
      this.report(at(proc), `${FILTER.extProc} (at [${proc}]) must come after ${FILTER.extAuthz} (at [${authz}]): the policy decision comes before payload processing`);
    }
  }

  /** A terminal network filter (tcp_proxy, http_connection_manager) must be last; ext_authz before it. */
  private networkFilterOrder(obj: JsonMap, path: string): void {
    const [key, filters] = pick(obj, 'filters') ?? [];
    if (key === undefined || !Array.isArray(filters)) return;
    filters.map(kindOf).forEach((kind, i) => {
      if (kind === 'terminal' && i !== filters.length - 1) {
        this.report(indexPath(keyPath(path, key), i), `a terminal network filter must be last (it is ${i + 1} of ${filters.length}); filters after it never run`);
      }
    });
  }

  finish(): void {
    if (this.dynamicClusters) return; // clusters may come from CDS: references cannot be checked here
    for (const ref of this.clusterRefs) {
      if (this.clusters.has(ref.name)) continue;
      const guess = didYouMean(ref.name, this.clusters);
      this.report(ref.path, `cluster "${ref.name}" is not defined in static_resources.clusters${guess ? `; did you mean "${guess}"?` : ''}`);
    }
  }
}
