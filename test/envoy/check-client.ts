import * as grpc from '@grpc/grpc-js';
import { envoyServices } from '../../src/envoy/protos.js';

/** A real gRPC client for Envoy's Authorization service, as Envoy's ext_authz filter uses it. */
export interface CheckClient {
  check(request: object, deadlineMs?: number): Promise<CheckResponse>;
  close(): void;
}

/** The decoded CheckResponse fields tests look at (proto field names). */
export interface CheckResponse {
  status?: { code?: number; message?: string };
  http_response?: 'ok_response' | 'denied_response';
  ok_response?: {
    headers?: { header?: { key: string; value: string }; append?: { value: boolean } }[];
    headers_to_remove?: string[];
    response_headers_to_add?: { header?: { key: string; value: string } }[];
  };
  denied_response?: { status?: { code?: string }; headers?: { header?: { key: string; value: string } }[]; body?: string };
  dynamic_metadata?: { fields?: Record<string, { stringValue?: string }> };
}

export function checkClient(port: number, options: grpc.ChannelOptions = {}): CheckClient {
  const Client = grpc.makeGenericClientConstructor(envoyServices().authorization, 'Authorization');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as grpc.Client & {
    Check(req: object, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: CheckResponse) => void): void;
  };
  return {
    check: (request, deadlineMs = 2000) =>
      new Promise((resolve, reject) => client.Check(request, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)))),
    close: () => client.close(),
  };
}

/** A CheckRequest as Envoy's HTTP filter builds it (see ENVOY.md). */
export function httpCheckRequest(opts: {
  method?: string;
  host: string;
  path?: string;
  headers?: Record<string, string>;
  extensions?: Record<string, string>;
  destination?: { address: string; port: number };
  principal?: string;
  body?: string;
}): object {
  const method = opts.method ?? 'GET';
  const path = opts.path ?? '/';
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.1.0.5', port_value: 40001 } }, ...(opts.principal ? { principal: opts.principal } : {}) },
      destination: { address: { socket_address: { address: opts.destination?.address ?? '93.184.216.34', port_value: opts.destination?.port ?? 443 } } },
      request: {
        http: {
          id: '12345',
          method,
          path,
          host: opts.host,
          scheme: 'https',
          protocol: 'HTTP/1.1',
          size: '-1',
          headers: { ':authority': opts.host, ':method': method, ':path': path, ':scheme': 'https', ...opts.headers },
          ...(opts.body !== undefined ? { body: opts.body } : {}),
        },
      },
      context_extensions: opts.extensions ?? {},
    },
  };
}
