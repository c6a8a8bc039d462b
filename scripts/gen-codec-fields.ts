/**
 * Generates src/envoy/codec/fields.generated.ts: the field numbers (and enum values) the
 * hot-path codecs use, read from Envoy's protos in @grpc/grpc-js-xds and the gRPC health
 * proto in grpc-health-check. Each field's declared type is checked against the type the
 * codec assumes, so a proto change that would make the codec misread bytes stops here.
 *
 *   npm run codegen            rewrite the file
 *   (test/envoy/codec.test.ts fails when the file and the protos disagree)
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { AUTHORIZATION_PROTO, loadEnvoyRoot } from '../src/envoy/protos.js';

export const GENERATED_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'envoy', 'codec', 'fields.generated.ts');

/** `map<string,string>`, a message's full name, or a scalar type; `repeated` prefixes lists. */
type FieldType = string;

/** Per message: the fields the codecs read or write, with the type they assume. */
const MESSAGES: Record<string, { type: string; fields: Record<string, FieldType> }> = {
  CheckRequest: { type: 'envoy.service.auth.v3.CheckRequest', fields: { attributes: 'envoy.service.auth.v3.AttributeContext' } },
  AttributeContext: {
    type: 'envoy.service.auth.v3.AttributeContext',
    fields: {
      source: 'envoy.service.auth.v3.AttributeContext.Peer',
      destination: 'envoy.service.auth.v3.AttributeContext.Peer',
      request: 'envoy.service.auth.v3.AttributeContext.Request',
      context_extensions: 'map<string,string>',
      tls_session: 'envoy.service.auth.v3.AttributeContext.TLSSession',
    },
  },
  Peer: {
    type: 'envoy.service.auth.v3.AttributeContext.Peer',
    fields: { address: 'envoy.config.core.v3.Address', labels: 'map<string,string>', principal: 'string' },
  },
  Address: { type: 'envoy.config.core.v3.Address', fields: { socket_address: 'envoy.config.core.v3.SocketAddress' } },
  SocketAddress: { type: 'envoy.config.core.v3.SocketAddress', fields: { address: 'string', port_value: 'uint32' } },
  Request: { type: 'envoy.service.auth.v3.AttributeContext.Request', fields: { http: 'envoy.service.auth.v3.AttributeContext.HttpRequest' } },
  HttpRequest: {
    type: 'envoy.service.auth.v3.AttributeContext.HttpRequest',
    fields: {
      id: 'string',
      method: 'string',
      headers: 'map<string,string>',
      header_map: 'envoy.config.core.v3.HeaderMap',
      path: 'string',
      host: 'string',
      scheme: 'string',
      protocol: 'string',
      body: 'string',
      raw_body: 'bytes',
    },
  },
  HeaderMap: { type: 'envoy.config.core.v3.HeaderMap', fields: { headers: 'repeated envoy.config.core.v3.HeaderValue' } },
  HeaderValue: { type: 'envoy.config.core.v3.HeaderValue', fields: { key: 'string', value: 'string', raw_value: 'bytes' } },
  TLSSession: { type: 'envoy.service.auth.v3.AttributeContext.TLSSession', fields: { sni: 'string' } },
  CheckResponse: {
    type: 'envoy.service.auth.v3.CheckResponse',
    fields: {
      status: 'google.rpc.Status',
      denied_response: 'envoy.service.auth.v3.DeniedHttpResponse',
      ok_response: 'envoy.service.auth.v3.OkHttpResponse',
      dynamic_metadata: 'google.protobuf.Struct',
    },
  },
  Status: { type: 'google.rpc.Status', fields: { code: 'int32', message: 'string' } },
  DeniedHttpResponse: {
    type: 'envoy.service.auth.v3.DeniedHttpResponse',
    fields: { status: 'envoy.type.v3.HttpStatus', headers: 'repeated envoy.config.core.v3.HeaderValueOption', body: 'string' },
  },
  HttpStatus: { type: 'envoy.type.v3.HttpStatus', fields: { code: 'envoy.type.v3.StatusCode' } },
  OkHttpResponse: {
    type: 'envoy.service.auth.v3.OkHttpResponse',
    fields: {
      headers: 'repeated envoy.config.core.v3.HeaderValueOption',
      headers_to_remove: 'repeated string',
      response_headers_to_add: 'repeated envoy.config.core.v3.HeaderValueOption',
    },
  },
  HeaderValueOption: { type: 'envoy.config.core.v3.HeaderValueOption', fields: { header: 'envoy.config.core.v3.HeaderValue', append: 'google.protobuf.BoolValue' } },
  BoolValue: { type: 'google.protobuf.BoolValue', fields: { value: 'bool' } },
  Struct: { type: 'google.protobuf.Struct', fields: { fields: 'map<string,google.protobuf.Value>' } },
  Value: { type: 'google.protobuf.Value', fields: { stringValue: 'string' } },
  HealthCheckRequest: { type: 'grpc.health.v1.HealthCheckRequest', fields: { service: 'string' } },
  HealthCheckResponse: { type: 'grpc.health.v1.HealthCheckResponse', fields: { status: 'grpc.health.v1.HealthCheckResponse.ServingStatus' } },
};

const ENUMS: Record<string, string> = {
  ServingStatus: 'grpc.health.v1.HealthCheckResponse.ServingStatus',
};

function healthProto(): string {
  return join(dirname(createRequire(import.meta.url).resolve('grpc-health-check/package.json')), 'proto', 'health', 'v1', 'health.proto');
}

function loadRoots(): protobuf.Root[] {
  const envoy = loadEnvoyRoot([AUTHORIZATION_PROTO, 'google/protobuf/struct.proto', 'google/protobuf/wrappers.proto']);
  const health = new protobuf.Root();
  health.loadSync(healthProto(), { keepCase: true });
  health.resolveAll();
  return [envoy, health];
}

function lookup<T extends protobuf.ReflectionObject>(roots: protobuf.Root[], name: string, kind: new (...args: never[]) => T): T {
  for (const root of roots) {
    const found = root.lookup(name);
    if (found instanceof kind) return found;
  }
  throw new Error(`${name} is not defined in the protos`);
}

/** The field's type as this file writes it (`map<k,v>`, `repeated T`, full names for messages and enums). */
function declaredType(field: protobuf.Field): string {
  field.resolve();
  const name = (t: string, resolved: protobuf.ReflectionObject | null): string => (resolved ? resolved.fullName.replace(/^\./, '') : t);
  if (field instanceof protobuf.MapField) return `map<${field.keyType},${name(field.type, field.resolvedType)}>`;
  const base = name(field.type, field.resolvedType);
  return field.repeated ? `repeated ${base}` : base;
}

/** The module text; throws when a field is missing or its type is not what the codec assumes. */
export function renderFields(): string {
  const roots = loadRoots();
  const lines = [
    '// Generated by scripts/gen-codec-fields.ts from the protos in @grpc/grpc-js-xds and',
    '// grpc-health-check. Do not edit: `npm run codegen` rewrites it, and',
    '// test/envoy/codec.test.ts fails when it and the protos disagree.',
    '',
  ];
  for (const [alias, { type, fields }] of Object.entries(MESSAGES)) {
    const message = lookup(roots, type, protobuf.Type);
    const entries = Object.entries(fields).map(([fieldName, expected]) => {
      const field = message.fields[fieldName];
      if (field === undefined) throw new Error(`${type} has no field ${fieldName}`);
      const actual = declaredType(field);
      if (actual !== expected) throw new Error(`${type}.${fieldName} is ${actual}, the codec assumes ${expected}`);
      return `${fieldName}: ${field.id}`;
    });
    lines.push(`/** ${type} */`, `export const ${alias} = { ${entries.join(', ')} } as const;`, '');
  }
  for (const [alias, type] of Object.entries(ENUMS)) {
    const e = lookup(roots, type, protobuf.Enum);
    const entries = Object.entries(e.values).map(([k, v]) => `${k}: ${v}`);
    lines.push(`/** ${type} */`, `export const ${alias} = { ${entries.join(', ')} } as const;`, '');
  }
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(GENERATED_PATH, renderFields());
  console.log(`wrote ${GENERATED_PATH}`);
}
