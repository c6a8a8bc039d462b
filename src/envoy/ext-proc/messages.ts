/**
 * The parts of `envoy.service.ext_proc.v3.ProcessingRequest` we read, as @grpc/proto-loader
 * (LOADER_OPTIONS in ../protos.ts) decodes them: proto field names, the oneof case named in
 * `request`, bytes as Buffer, enums as names. Responses are plain objects in proto field
 * names, serialised by the codec generated from Envoy's protos; nothing here is a wire format.
 */

export interface HeaderValueMessage {
  key?: string;
  value?: string;
  raw_value?: Buffer | Uint8Array;
}

export interface HeaderMapMessage {
  headers?: HeaderValueMessage[];
}

export interface HttpHeadersMessage {
  headers?: HeaderMapMessage;
  end_of_stream?: boolean;
}

export interface HttpBodyMessage {
  body?: Buffer | Uint8Array;
  end_of_stream?: boolean;
}

export interface HttpTrailersMessage {
  trailers?: HeaderMapMessage;
}

export type RequestKind = 'request_headers' | 'response_headers' | 'request_body' | 'response_body' | 'request_trailers' | 'response_trailers';

export const REQUEST_KINDS: readonly RequestKind[] = ['request_headers', 'response_headers', 'request_body', 'response_body', 'request_trailers', 'response_trailers'];

export interface ProcessingRequestMessage {
  /** The oneof case (proto-loader `oneofs: true`). */
  request?: string;
  request_headers?: HttpHeadersMessage;
  response_headers?: HttpHeadersMessage;
  request_body?: HttpBodyMessage;
  response_body?: HttpBodyMessage;
  request_trailers?: HttpTrailersMessage;
  response_trailers?: HttpTrailersMessage;
  observability_mode?: boolean;
}

/** `envoy.extensions.filters.http.ext_proc.v3.ProcessingMode`, enum values by name. */
export type HeaderSendMode = 'DEFAULT' | 'SEND' | 'SKIP';
// FULL_DUPLEX_STREAMED (Envoy ≥ 1.32) is absent: the protos in @grpc/grpc-js-xds 1.14.1 have
// neither the enum value nor `streamed_response`, so no such message can be sent or read.
export type BodySendMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL';

export interface ProcessingMode {
  readonly request_header_mode: HeaderSendMode;
  readonly response_header_mode: HeaderSendMode;
  readonly request_body_mode: BodySendMode;
  readonly response_body_mode: BodySendMode;
  readonly request_trailer_mode: HeaderSendMode;
  readonly response_trailer_mode: HeaderSendMode;
}

/** Envoy's default when `processing_mode` is unset (processing_mode.proto). */
export const ENVOY_DEFAULT_MODE: ProcessingMode = {
  request_header_mode: 'SEND',
  response_header_mode: 'SEND',
  request_body_mode: 'NONE',
  response_body_mode: 'NONE',
  request_trailer_mode: 'SKIP',
  response_trailer_mode: 'SKIP',
};

/** What envoy/*.yaml ship (src/envoy/bootstrap.ts httpExtProc): both bodies BUFFERED. */
export const SHIPPED_MODE: ProcessingMode = { ...ENVOY_DEFAULT_MODE, request_body_mode: 'BUFFERED', response_body_mode: 'BUFFERED' };

/** A `ProcessingResponse` as a plain object for the codec. */
export type ProcessingResponseMessage = Record<string, unknown>;
