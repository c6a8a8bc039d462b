import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Edge } from '../cluster/balancer.js';
import type { GatewayConfig } from '../config.js';
import type { Authorizer } from '../envoy/authorization.js';
import { grpcEdge, type GrpcEdge } from '../envoy/grpc-server.js';
import { httpAuthzEdge, type HttpAuthzEdge } from '../envoy/http-authz.js';
import type { Metrics } from '../metrics.js';

/** The servers Envoy talks to: gRPC (ext_authz, ext_proc, health) and the HTTP authz mode. */
export interface Edges {
  /** Stops accepting, finishes in-flight calls. */
  close(): Promise<void>;
}

/** Edges listening on their own ports (a single process). */
export interface ListeningEdges extends Edges {
  readonly grpc: number;
  readonly http: number;
}

/** Edges serving connections accepted elsewhere (`serve --workers`: the primary's balancer). */
export interface AcceptingEdges extends Edges {
  accept(edge: Edge, socket: Socket): void;
}

/** Both edges, serving only the connections handed to `accept`. */
export function acceptingEdges(authorizer: Authorizer, config: GatewayConfig, metrics: Metrics, log: Logger): AcceptingEdges {
  const { grpc, http, close } = bothEdges(authorizer, config, metrics, log);
  return { accept: (edge, socket) => (edge === 'grpc' ? grpc.accept(socket) : http.accept(socket)), close };
}

/** Both edges, listening on the configured addresses. */
export async function startEdges(authorizer: Authorizer, config: GatewayConfig, metrics: Metrics, log: Logger): Promise<ListeningEdges> {
  const { grpc, http, close } = bothEdges(authorizer, config, metrics, log);
  try {
    return { grpc: await grpc.listen(config.grpc.host, config.grpc.port), http: await http.listen(config.http.host, config.http.port), close };
  } catch (err) {
    await close();
    throw err;
  }
}

function bothEdges(authorizer: Authorizer, config: GatewayConfig, metrics: Metrics, log: Logger): Edges & { grpc: GrpcEdge; http: HttpAuthzEdge } {
  const grpc = grpcEdge(authorizer, metrics, log);
  const http = httpAuthzEdge(authorizer, config.httpPathPrefix, metrics, log);
  return { grpc, http, close: async () => void (await Promise.all([grpc.close(), http.close()])) };
}
