import type { Logger } from 'pino';
import type { GatewayConfig } from '../config.js';
import type { Authorizer } from '../envoy/authorization.js';
import { startGrpcEdge } from '../envoy/grpc-server.js';
import { startHttpAuthzEdge } from '../envoy/http-authz.js';
import type { Metrics } from '../metrics.js';

/** The servers Envoy talks to: gRPC (ext_authz, ext_proc, health) and the HTTP authz mode. */
export interface Edges {
  readonly grpc: number;
  readonly http: number;
  /** Stops accepting, finishes in-flight calls. */
  close(): Promise<void>;
}

export async function startEdges(authorizer: Authorizer, config: GatewayConfig, metrics: Metrics, log: Logger): Promise<Edges> {
  const grpc = await startGrpcEdge(authorizer, config.grpc, metrics, log);
  const http = await startHttpAuthzEdge(authorizer, config.http, config.httpPathPrefix, metrics, log).catch(async (err: unknown) => {
    await grpc.close();
    throw err;
  });
  return { grpc: grpc.port, http: http.port, close: async () => void (await Promise.all([grpc.close(), http.close()])) };
}
