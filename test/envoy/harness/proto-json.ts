import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type protobuf from 'protobufjs';
import { loadEnvoyRoot, PROTO_INCLUDE_DIRS } from '../../../src/envoy/protos.js';

/**
 * Reading Envoy configuration the way Envoy does: YAML → JSON → proto with the proto3 JSON
 * mapping (`source/common/protobuf/utility.cc` `MessageUtil::loadFromYaml`, which rejects
 * unknown fields). Every field is checked against Envoy's own protos (the copies shipped in
 * @grpc/grpc-js-xds), `typed_config` Any values are resolved by their type URL, and the result
 * is normalised to proto field names (snake_case) so the harness reads one spelling only.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export class HarnessConfigError extends Error {
  override readonly name = 'HarnessConfigError';
  constructor(
    message: string,
    readonly pointer: string,
  ) {
    super(`${pointer === '' ? '/' : pointer}: ${message}`);
  }
}

const BASE_FILES = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/type/v3/http_status.proto',
];

let root: protobuf.Root | undefined;
const triedPackages = new Set<string>();

export function envoyRoot(): protobuf.Root {
  root ??= loadEnvoyRoot(BASE_FILES);
  return root;
}

function tryLookupType(fullName: string): protobuf.Type | undefined {
  try {
    return envoyRoot().lookupType(fullName);
  } catch {
    return undefined;
  }
}

/**
 * The message type behind an Any type URL. Protos live in a directory named after their
 * package, so an unknown type is found by loading that package's directory (for example
 * `envoy.extensions.filters.listener.original_dst.v3.OriginalDst` →
 * `envoy/extensions/filters/listener/original_dst/v3/*.proto`).
 */
export function resolveTypeUrl(typeUrl: string): protobuf.Type | undefined {
  const fullName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const found = tryLookupType(fullName);
  if (found !== undefined) return found;
  const pkg = fullName.slice(0, fullName.lastIndexOf('.'));
  if (triedPackages.has(pkg)) return undefined;
  triedPackages.add(pkg);
  const rel = pkg.replace(/\./g, '/');
  for (const dir of PROTO_INCLUDE_DIRS) {
    const abs = join(dir, rel);
    if (!existsSync(abs)) continue;
    const files = readdirSync(abs)
      .filter((f) => f.endsWith('.proto'))
      .map((f) => `${rel}/${f}`);
    try {
      const r = envoyRoot();
      r.loadSync(files, { keepCase: true });
      r.resolveAll();
    } catch {
      return undefined;
    }
    break;
  }
  return tryLookupType(fullName);
}

/** `envoy.type.v3.StatusCode` and friends: enum value by name (or number). */
export function enumNumber(enumFullName: string, value: string | number): number | undefined {
  if (typeof value === 'number') return value;
  const e = envoyRoot().lookupEnum(enumFullName);
  return e.values[value];
}

/** proto3 JSON `google.protobuf.Duration` ("0.25s") to milliseconds. */
export function durationMs(value: string, pointer = ''): number {
  const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
  if (m === null) throw new HarnessConfigError(`"${value}" is not a google.protobuf.Duration (proto3 JSON form like "0.25s")`, pointer);
  const seconds = Number(m[2]);
  const frac = Number(`0.${m[3] ?? '0'}`);
  const ms = Math.round((seconds + frac) * 1000);
  return m[1] === '-' ? -ms : ms;
}

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function esc(seg: string | number): string {
  return `/${String(seg).replace(/~/g, '~0').replace(/\//g, '~1')}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const WRAPPERS: Record<string, 'bool' | 'number' | 'string' | 'bytes'> = {
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.UInt32Value': 'number',
  'google.protobuf.Int32Value': 'number',
  'google.protobuf.UInt64Value': 'number',
  'google.protobuf.Int64Value': 'number',
  'google.protobuf.DoubleValue': 'number',
  'google.protobuf.FloatValue': 'number',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

const INT_TYPES = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

function checkScalar(protoType: string, v: unknown, pointer: string): Json {
  if (protoType === 'bool') {
    if (typeof v !== 'boolean') throw new HarnessConfigError(`expected a bool, got ${JSON.stringify(v)}`, pointer);
    return v;
  }
  if (protoType === 'string' || protoType === 'bytes') {
    if (typeof v !== 'string') throw new HarnessConfigError(`expected a ${protoType === 'bytes' ? 'base64 ' : ''}string, got ${JSON.stringify(v)}`, pointer);
    return v;
  }
  if (INT_TYPES.has(protoType) || protoType === 'double' || protoType === 'float') {
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || Number.isNaN(n)) throw new HarnessConfigError(`expected a number (${protoType}), got ${JSON.stringify(v)}`, pointer);
    if (INT_TYPES.has(protoType) && !Number.isInteger(n)) throw new HarnessConfigError(`expected an integer (${protoType}), got ${n}`, pointer);
    if (protoType.startsWith('uint') || protoType.startsWith('fixed')) {
      if (n < 0) throw new HarnessConfigError(`expected a non-negative ${protoType}, got ${n}`, pointer);
    }
    return n;
  }
  throw new HarnessConfigError(`unsupported scalar type ${protoType}`, pointer);
}

export interface NormaliseOptions {
  /** Types of Any values that could not be resolved are collected here (their content is kept unchecked). */
  readonly unresolvedAny?: Set<string>;
}

/**
 * Checks `value` against message type `typeName` with the proto3 JSON mapping and returns it
 * with proto field names. Throws HarnessConfigError (with a JSON pointer) on unknown fields,
 * wrong types, unknown enum names, two members of one oneof, or malformed well-known types.
 */
export function normaliseMessage(typeName: string, value: unknown, pointer = '', opts: NormaliseOptions = {}): JsonObject {
  const type = envoyRoot().lookupType(typeName);
  const out = normaliseValueOfType(type, value, pointer, opts);
  if (!isObject(out)) throw new HarnessConfigError(`expected an object for ${typeName}`, pointer);
  return out as JsonObject;
}

function normaliseValueOfType(type: protobuf.Type, value: unknown, pointer: string, opts: NormaliseOptions): Json {
  const full = type.fullName.replace(/^\./, '');
  switch (full) {
    case 'google.protobuf.Duration':
      if (typeof value !== 'string') throw new HarnessConfigError(`google.protobuf.Duration must be a string like "1.5s"`, pointer);
      durationMs(value, pointer);
      return value;
    case 'google.protobuf.Timestamp':
    case 'google.protobuf.FieldMask':
      if (typeof value !== 'string') throw new HarnessConfigError(`${full} must be a string`, pointer);
      return value;
    case 'google.protobuf.Struct':
      if (!isObject(value)) throw new HarnessConfigError(`google.protobuf.Struct must be an object`, pointer);
      return value as JsonObject;
    case 'google.protobuf.Value':
      return value as Json;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(value)) throw new HarnessConfigError(`google.protobuf.ListValue must be an array`, pointer);
      return value as Json[];
    case 'google.protobuf.Empty':
      if (!isObject(value) || Object.keys(value).length > 0) throw new HarnessConfigError(`google.protobuf.Empty must be {}`, pointer);
      return {};
    case 'google.protobuf.Any':
      return normaliseAny(value, pointer, opts);
    default:
      break;
  }
  const wrapper = WRAPPERS[full];
  if (wrapper !== undefined) {
    return checkScalar(wrapper === 'number' ? 'double' : wrapper, value, pointer);
  }
  if (!isObject(value)) throw new HarnessConfigError(`expected an object (${full}), got ${JSON.stringify(value)}`, pointer);

  const byName = new Map<string, protobuf.Field>();
  for (const f of type.fieldsArray) {
    byName.set(f.name, f);
    byName.set(camel(f.name), f);
  }
  const out: JsonObject = {};
  const oneofSeen = new Map<string, string>();
  for (const [key, raw] of Object.entries(value)) {
    const p = pointer + esc(key);
    const field = byName.get(key);
    if (field === undefined) {
      throw new HarnessConfigError(`unknown field "${key}" in ${full} (Envoy rejects unknown fields)`, p);
    }
    if (field.name in out) throw new HarnessConfigError(`field "${field.name}" given twice (as proto and JSON name)`, p);
    if (raw === null || raw === undefined) continue; // proto3 JSON: null means the default value
    const oneof = field.partOf;
    if (oneof !== null) {
      const prev = oneofSeen.get(oneof.name);
      if (prev !== undefined) throw new HarnessConfigError(`"${field.name}" and "${prev}" are members of oneof "${oneof.name}"; only one may be set`, p);
      oneofSeen.set(oneof.name, field.name);
    }
    out[field.name] = normaliseField(field, raw, p, opts);
  }
  return out;
}

function normaliseField(field: protobuf.Field, raw: unknown, pointer: string, opts: NormaliseOptions): Json {
  if (field.map) {
    if (!isObject(raw)) throw new HarnessConfigError(`map field "${field.name}" must be an object`, pointer);
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(raw)) out[k] = normaliseSingle(field, v, pointer + esc(k), opts);
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(raw)) throw new HarnessConfigError(`repeated field "${field.name}" must be an array`, pointer);
    return raw.map((v, i) => normaliseSingle(field, v, pointer + esc(i), opts));
  }
  return normaliseSingle(field, raw, pointer, opts);
}

function normaliseSingle(field: protobuf.Field, raw: unknown, pointer: string, opts: NormaliseOptions): Json {
  field.resolve();
  const rt = field.resolvedType;
  if (rt === null) return checkScalar(field.type, raw, pointer);
  if ('values' in rt && !('fieldsArray' in rt)) {
    const en = rt as protobuf.Enum;
    if (typeof raw === 'number') return raw;
    if (typeof raw !== 'string' || en.values[raw] === undefined) {
      throw new HarnessConfigError(`"${String(raw)}" is not a value of enum ${en.fullName.replace(/^\./, '')} (${Object.keys(en.values).join(', ')})`, pointer);
    }
    return raw;
  }
  return normaliseValueOfType(rt as protobuf.Type, raw, pointer, opts);
}

function normaliseAny(value: unknown, pointer: string, opts: NormaliseOptions): Json {
  if (!isObject(value)) throw new HarnessConfigError('google.protobuf.Any must be an object with "@type"', pointer);
  const typeUrl = value['@type'];
  if (typeof typeUrl !== 'string') throw new HarnessConfigError('google.protobuf.Any needs "@type"', pointer);
  const { '@type': _t, ...rest } = value;
  const type = resolveTypeUrl(typeUrl);
  if (type === undefined) {
    opts.unresolvedAny?.add(typeUrl);
    return value as JsonObject;
  }
  // A well-known type inside Any is carried in a "value" field (proto3 JSON mapping).
  const inner = type.fullName.replace(/^\./, '').startsWith('google.protobuf.') && 'value' in rest ? rest['value'] : rest;
  const normalised = normaliseValueOfType(type, inner, pointer, opts);
  return isObject(normalised) && !type.fullName.startsWith('.google.protobuf.') ? { '@type': typeUrl, ...(normalised as JsonObject) } : { '@type': typeUrl, value: normalised };
}

/**
 * google.protobuf.Struct as decoded by proto-loader → plain JSON. Note: proto-loader takes the
 * well-known types from protobufjs's built-in definitions, whose Value fields are camelCase
 * (`stringValue`, `structValue`, ...) even with keepCase: a Struct written with snake_case
 * `string_value` loses its values on the wire. Both spellings are read here.
 */
export function structToJson(struct: unknown): JsonObject {
  const out: JsonObject = {};
  if (!isObject(struct) || !isObject(struct['fields'])) return out;
  for (const [k, v] of Object.entries(struct['fields'])) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: unknown): Json {
  if (!isObject(v)) return null;
  const pick = (name: string): unknown => v[name] ?? v[camel(name)];
  const kinds = ['null_value', 'number_value', 'string_value', 'bool_value', 'struct_value', 'list_value'];
  const rawKind = typeof v['kind'] === 'string' ? v['kind'] : Object.keys(v).find((k) => kinds.includes(k) || kinds.map(camel).includes(k));
  const kind = kinds.find((k) => k === rawKind || camel(k) === rawKind);
  switch (kind) {
    case 'number_value':
      return Number(pick('number_value'));
    case 'string_value':
      return String(pick('string_value') ?? '');
    case 'bool_value':
      return pick('bool_value') === true;
    case 'struct_value':
      return structToJson(pick('struct_value'));
    case 'list_value': {
      const lv = pick('list_value');
      const values = isObject(lv) && Array.isArray(lv['values']) ? lv['values'] : [];
      return values.map(valueToJson);
    }
    default:
      return null;
  }
}
