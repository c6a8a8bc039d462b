import type { RequestHeaders } from '../../http2/request-headers.js';
import type { GrpcServer } from '../../grpc/server.js';
import { GrpcError, Status } from '../../grpc/status.js';
import { envoyServices } from '../protos.js';
import type { ProcessingRequestMessage, ProcessingResponseMessage } from './messages.js';
import type { ProcessResult, ProcessStream } from './process-stream.js';

/** Makes the state machine of one stream from the call's initial metadata (lower-case keys, strings only). */
export type StreamFactory = (metadata: Readonly<Record<string, string>>) => ProcessStream;

export const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';

/**
 * `envoy.service.ext_proc.v3.ExternalProcessor/Process` on the gateway's gRPC layer: a thin
 * adapter that decodes each message with the codec generated from Envoy's protos, feeds it to
 * a ProcessStream and writes its answers in order. Bytes that do not decode reach the stream
 * as a malformed message (it fails closed with an ImmediateResponse). Envoy half-closes when
 * the request is done (we end the call with OK, after any answer still waiting for the store)
 * and may cancel at any time (we drop the stream's state and write nothing more); neither can
 * leave anything behind. Messages marked `observability_mode` are inspected and recorded but
 * never answered, as the protocol asks.
 */
export function registerExtProc(server: GrpcServer, factory: StreamFactory): void {
  const method = envoyServices().externalProcessor.Process;
  if (method === undefined) throw new Error('Envoy protos define no ExternalProcessor/Process');
  const decode = (bytes: Buffer): ProcessingRequestMessage | undefined => {
    try {
      return method.requestDeserialize(bytes) as ProcessingRequestMessage;
    } catch {
      return undefined;
    }
  };
  server.stream(PROCESS_PATH, (call) => {
    const stream = factory(metadataOf(call.metadata));
    const write = (r: ProcessResult): void => {
      for (const m of r.responses) call.send(method.responseSerialize(m satisfies ProcessingResponseMessage));
    };
    // Answers still to be written, in message order (a verdict may wait for the state store).
    let pending: Promise<void> | undefined;
    let halfClosed = false;
    const finish = (): void => {
      stream.close();
      call.end();
    };
    return {
      message: (bytes) => {
        const msg = decode(bytes);
        // Observability mode: Envoy does not wait for answers and the server must send none.
        // The message is still inspected, so decisions and findings are recorded.
        const out = msg?.observability_mode === true ? ignore : write;
        const r = stream.onMessage(msg);
        if (pending === undefined && !(r instanceof Promise)) return out(r);
        const next = (pending ?? Promise.resolve())
          .then(() => r)
          .then(out)
          .catch(() => {
            stream.close();
            call.end(new GrpcError(Status.INTERNAL, 'internal error'));
          });
        pending = next;
        void next.then(() => {
          if (pending !== next) return;
          pending = undefined;
          if (halfClosed) finish();
        });
      },
      // Envoy half-closes once it needs nothing more; answers still pending are written first.
      halfClose: () => {
        halfClosed = true;
        if (pending === undefined) finish();
      },
      cancel: () => stream.close(),
    };
  });
}

const ignore = (): void => undefined;

/** gRPC custom metadata: the request headers without pseudo-headers and gRPC's own. */
function metadataOf(headers: RequestHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(':') || k.startsWith('grpc-') || k === 'content-type' || k === 'te' || k.endsWith('-bin')) continue;
    out[k] = v;
  }
  return out;
}
