import type * as grpc from '@grpc/grpc-js';
import type { ProcessingRequestMessage, ProcessingResponseMessage } from './messages.js';
import type { ProcessStream } from './process-stream.js';

/** Makes the state machine of one stream from the call's initial metadata (lower-case keys, strings only). */
export type StreamFactory = (metadata: Readonly<Record<string, string>>) => ProcessStream;

/**
 * `envoy.service.ext_proc.v3.ExternalProcessor/Process` on @grpc/grpc-js: a thin adapter that
 * feeds each decoded message to a ProcessStream and writes its answers in order. Envoy
 * half-closes when the request is done (we end the call with OK) and may cancel at any time
 * (we drop the stream's state); neither can leave anything behind.
 */
export function extProcHandler(factory: StreamFactory): grpc.handleBidiStreamingCall<ProcessingRequestMessage, ProcessingResponseMessage> {
  return (call) => {
    const md: Record<string, string> = {};
    for (const [k, v] of Object.entries(call.metadata.getMap())) if (typeof v === 'string') md[k] = v;
    const stream = factory(md);
    call.on('data', (msg: ProcessingRequestMessage) => {
      for (const r of stream.onMessage(msg).responses) call.write(r);
    });
    call.on('end', () => {
      stream.close();
      call.end();
    });
    call.on('cancelled', () => stream.close());
    call.on('error', () => stream.close());
  };
}
