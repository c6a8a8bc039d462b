import { GrpcError, Status } from '../grpc/status.js';
import type { GrpcServer, StreamCall } from '../grpc/server.js';
import { Reader, WIRE_LEN, Writer, expectWire } from '../grpc/wire.js';
import * as F from './codec/fields.generated.js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

/**
 * `grpc.health.v1.Health` (grpc/grpc doc/health-checking.md), which Envoy's gRPC health
 * checker calls (`Check`, with the service name from its config or ""). `Watch` streams
 * the status and every change. An unknown service is NOT_FOUND for Check and
 * SERVICE_UNKNOWN for Watch, as the protocol says.
 */
export class HealthService {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<StreamCall>>();

  constructor(initial: Record<string, ServingStatus>) {
    for (const [service, status] of Object.entries(initial)) this.statuses.set(service, status);
  }

  set(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    for (const call of this.watchers.get(service) ?? []) call.send(encodeStatus(F.ServingStatus[status]));
  }

  /** Sets every known service (shutdown: tell health-checking Envoys to move away). */
  setAll(status: ServingStatus): void {
    for (const service of this.statuses.keys()) this.set(service, status);
  }

  register(server: GrpcServer): void {
    server.unary('/grpc.health.v1.Health/Check', (request) => {
      const service = decodeService(request);
      const status = this.statuses.get(service);
      if (status === undefined) throw new GrpcError(Status.NOT_FOUND, `unknown service ${JSON.stringify(service)}`);
      return encodeStatus(F.ServingStatus[status]);
    });
    server.stream('/grpc.health.v1.Health/Watch', (call) => {
      let service: string | undefined;
      const forget = () => {
        if (service !== undefined) this.watchers.get(service)?.delete(call);
      };
      return {
        message: (request) => {
          if (service !== undefined) return call.end(new GrpcError(Status.UNIMPLEMENTED, 'Watch takes one request message'));
          service = decodeService(request);
          let set = this.watchers.get(service);
          if (set === undefined) this.watchers.set(service, (set = new Set()));
          set.add(call);
          const status = this.statuses.get(service);
          call.send(encodeStatus(status === undefined ? F.ServingStatus.SERVICE_UNKNOWN : F.ServingStatus[status]));
        },
        halfClose: () => {},
        cancel: forget,
      };
    });
  }
}

function decodeService(bytes: Buffer): string {
  const r = new Reader(bytes, 0, bytes.length);
  let service = '';
  try {
    while (r.more()) {
      const tag = r.uint32();
      if (tag >>> 3 === F.HealthCheckRequest.service) {
        expectWire(r, tag, WIRE_LEN);
        service = r.string();
      } else r.skip(tag & 7);
    }
  } catch (err) {
    throw new GrpcError(Status.INVALID_ARGUMENT, `malformed HealthCheckRequest: ${(err as Error).message}`);
  }
  return service;
}

function encodeStatus(status: number): Buffer {
  const w = new Writer(16);
  if (status !== 0) w.uint32(F.HealthCheckResponse.status, status);
  return w.finish();
}
