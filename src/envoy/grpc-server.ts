import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { GrpcServer } from '../grpc/server.js';
import { Writer } from '../grpc/wire.js';
import { check, checkUndecodable, type Authorizer, type CheckResult } from './authorization.js';
import { decodeCheckRequest } from './codec/check-request.js';
import { encodeCheckResponse } from './codec/check-response.js';
import { gatewayStreams, registerExtProc, type ExtProcOptions } from './ext-proc/index.js';
import { HealthService } from './health.js';

export interface GrpcEdge {
  /** `grpc.health.v1.Health`, which Envoy's gRPC health check asks: SERVING until close. */
  readonly health: HealthService;
  /** Binds and listens; resolves with the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Serves a connection accepted elsewhere (`serve --workers`: the primary hands it over). */
  accept(socket: Socket): void;
  /** Stops accepting calls, lets in-flight ones finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
export const CHECK_PATH = `/${AUTHORIZATION_SERVICE}/Check`;
const EXT_PROC_SERVICE = 'envoy.service.ext_proc.v3.ExternalProcessor';

/**
 * The Envoy-facing gRPC server: `envoy.service.auth.v3.Authorization/Check` and
 * `envoy.service.ext_proc.v3.ExternalProcessor/Process` on our own
 * gRPC layer over our own HTTP/2 server (src/grpc, src/http2), with codecs generated from Envoy's protos
 * (src/envoy/codec). Every call gets an answer; a request that cannot be decided on its
 * merits (undecodable bytes included) is a deny (fail closed), logged with its decision id.
 */
export function grpcEdge(authorizer: Authorizer, metrics: Metrics, log: Logger, extProc: ExtProcOptions = {}): GrpcEdge {
  const server = new GrpcServer({
    onHandlerError: (err, path) => log.error({ err, path }, 'gRPC handler failed'),
  });
  // One writer reused by every Check: each answer is encoded and copied out synchronously.
  const writer = new Writer();
  const answer = (result: CheckResult, started: bigint): Buffer => {
    authorizer.recorder?.recordDecision(result.decision, result.context, result.edge);
    if (result.failure !== undefined) {
      metrics.error(result.edge, result.failure);
      log.warn({ decisionId: result.decision.decisionId, reason: result.decision.reason, failure: result.failure }, result.decision.message ?? 'check denied');
    }
    metrics.decision(result.edge, result.decision, Number(process.hrtime.bigint() - started) / 1e9);
    encodeCheckResponse(writer.reset(), result.response);
    return writer.finish();
  };
  server.unary(CHECK_PATH, (bytes) => {
    const started = process.hrtime.bigint();
    let result: CheckResult | Promise<CheckResult>;
    try {
      result = check(authorizer, decodeCheckRequest(bytes));
    } catch (err) {
      result = checkUndecodable(authorizer, err);
    }
    // A promise only when a Secret to inject is not cached yet; it never rejects.
    return result instanceof Promise ? result.then((r) => answer(r, started)) : answer(result, started);
  });
  // ext_proc on the same port: one ProcessStream per call (src/envoy/ext-proc).
  const onDecision: ExtProcOptions['onDecision'] = (d, ctx, seconds) => {
    authorizer.recorder?.recordDecision(d, ctx, 'ext_proc');
    metrics.decision('ext_proc', d, seconds);
    if (d.decision === 'deny') log.info({ decisionId: d.decisionId, reason: d.reason, hook: ctx.hook, policyId: d.policyId }, 'ext_proc denied');
  };
  const onFailure: ExtProcOptions['onFailure'] = (details) => metrics.error('ext_proc', details);
  registerExtProc(server, gatewayStreams(authorizer, { onDecision, onFailure, ...extProc }));
  const health = new HealthService({ '': 'SERVING', [AUTHORIZATION_SERVICE]: 'SERVING', [EXT_PROC_SERVICE]: 'SERVING' });
  health.register(server);
  return {
    health,
    listen: (host, port) => server.listen(host, port),
    accept: (socket) => server.accept(socket),
    close: (graceMs = 5000) => {
      // Tell health-checking Envoys to move away before the listener goes.
      health.setAll('NOT_SERVING');
      return server.close(graceMs);
    },
  };
}
