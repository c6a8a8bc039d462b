import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/**
 * Envoy's published protos, as shipped by @grpc/grpc-js-xds. Every Envoy message we read or
 * write is defined by these files; nothing Envoy-shaped is written by hand.
 */
const xdsRoot = join(dirname(createRequire(import.meta.url).resolve('@grpc/grpc-js-xds/package.json')), 'deps');

export const PROTO_INCLUDE_DIRS: readonly string[] = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(xdsRoot, d));

export const AUTHORIZATION_PROTO = 'envoy/service/auth/v3/external_auth.proto';
export const EXT_PROC_PROTO = 'envoy/service/ext_proc/v3/external_processor.proto';

/**
 * Field names as in the protos (snake_case, as Envoy's own YAML and JSON use them), enums as
 * their names, 64-bit integers as strings, oneof cases named, absent fields left out.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [...PROTO_INCLUDE_DIRS],
};

export interface EnvoyServices {
  readonly authorization: grpc.ServiceDefinition;
  readonly externalProcessor: grpc.ServiceDefinition;
}

let services: EnvoyServices | undefined;

/** The gRPC service definitions Envoy calls, loaded once per process. */
export function envoyServices(): EnvoyServices {
  if (services === undefined) {
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync([AUTHORIZATION_PROTO, EXT_PROC_PROTO], LOADER_OPTIONS)) as unknown as {
      envoy: { service: { auth: { v3: { Authorization: grpc.ServiceClientConstructor } }; ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
    };
    services = {
      authorization: pkg.envoy.service.auth.v3.Authorization.service,
      externalProcessor: pkg.envoy.service.ext_proc.v3.ExternalProcessor.service,
    };
  }
  return services;
}

/** A protobufjs Root over Envoy's protos with the given files loaded (resolved against the include dirs). */
export function loadEnvoyRoot(files: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => PROTO_INCLUDE_DIRS.map((dir) => join(dir, target)).find((p) => existsSync(p)) ?? target;
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}
