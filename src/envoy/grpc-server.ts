import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { check, type Authorizer } from './authorization.js';
import type { CheckRequestMessage } from './check-request.js';
import { extProcHandler, gatewayStreams, type ExtProcOptions } from './ext-proc/index.js';
import { envoyServices } from './protos.js';

export interface GrpcEdge {
  readonly port: number;
  /** `grpc.health.v1.Health`, which Envoy's gRPC health check asks: SERVING until close. */
  readonly health: HealthImplementation;
  /** Stops accepting calls, lets in-flight ones finish (up to `graceMs`), then closes. */
  close(graceMs?: number): Promise<void>;
}

const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

/**
 * The Envoy-facing gRPC server: `envoy.service.auth.v3.Authorization/Check` from Envoy's own
 * protos. Every call gets an answer; a decision that could not be made on its merits is a
 * deny (fail closed) and is logged with its decision id.
 */
export async function startGrpcEdge(authorizer: Authorizer, address: { host: string; port: number }, metrics: Metrics, log: Logger, extProc: ExtProcOptions = {}): Promise<GrpcEdge> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  server.addService(envoyServices().authorization, {
    Check: (call: grpc.ServerUnaryCall<CheckRequestMessage, object>, callback: grpc.sendUnaryData<object>) => {
      const started = process.hrtime.bigint();
      const result = check(authorizer, call.request);
      if (result.failure !== undefined) {
        metrics.error(result.edge, result.failure);
        log.warn({ decisionId: result.decision.decisionId, reason: result.decision.reason, failure: result.failure }, result.decision.message ?? 'check denied');
      }
      metrics.decision(result.edge, result.decision, Number(process.hrtime.bigint() - started) / 1e9);
      callback(null, result.response);
    },
  });
  // ext_proc on the same port: one ProcessStream per call (src/envoy/ext-proc).
  const onDecision: ExtProcOptions['onDecision'] = (d, ctx, seconds) => {
    metrics.decision('ext_proc', d, seconds);
    if (d.decision === 'deny') log.info({ decisionId: d.decisionId, reason: d.reason, hook: ctx.hook, policyId: d.policyId }, 'ext_proc denied');
  };
  const onFailure: ExtProcOptions['onFailure'] = (details) => metrics.error('ext_proc', details);
  server.addService(envoyServices().externalProcessor, { Process: extProcHandler(gatewayStreams(authorizer, { onDecision, onFailure, ...extProc })) });
  const health = new HealthImplementation({ '': 'SERVING', [AUTHORIZATION_SERVICE]: 'SERVING' });
  health.addToServer(server);
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${address.port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  return {
    port,
    health,
    close: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        // Tell health-checking Envoys to move away before the listener goes.
        health.setStatus('', 'NOT_SERVING');
        health.setStatus(AUTHORIZATION_SERVICE, 'NOT_SERVING');
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
