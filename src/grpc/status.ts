/**
 * gRPC status codes and the header encodings of the gRPC over HTTP/2 protocol:
 * https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md and statuscodes.md.
 */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** A call's outcome, sent in the trailers. */
export class GrpcError extends Error {
  constructor(
    readonly code: StatusCode,
    message: string,
  ) {
    super(message);
    this.name = 'GrpcError';
  }
}

const TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * `grpc-timeout`: TimeoutValue (1–8 ASCII digits) then a unit (H M S m u n). Returns
 * milliseconds, or undefined when the header is absent; throws GrpcError when malformed.
 */
export function parseTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value[0] : value;
  const m = text === undefined ? null : /^(\d{1,8})([HMSmun])$/.exec(text);
  if (m === null) throw new GrpcError(Status.INTERNAL, `malformed grpc-timeout header ${JSON.stringify(String(text).slice(0, 40))}`);
  return Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!;
}

/**
 * `grpc-message` is percent-encoded: bytes outside printable ASCII (0x20–0x7E), '%' itself
 * and a space at either end, over the UTF-8 encoding of the message.
 */
export function encodeGrpcMessage(message: string): string {
  // Fast path: nothing to escape. A space at either end is escaped too: HTTP/2 field values
  // may not start or end with whitespace (RFC 9113 §8.2.1).
  if (/^(?:[\x21-\x24\x26-\x7e](?:[\x20-\x24\x26-\x7e]*[\x21-\x24\x26-\x7e])?)?$/.test(message)) return message;
  const bytes = Buffer.from(message, 'utf8');
  let out = '';
  bytes.forEach((byte, i) => {
    const plain = byte > 0x20 ? byte <= 0x7e && byte !== 0x25 : byte === 0x20 && i > 0 && i < bytes.length - 1;
    out += plain ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  });
  return out;
}
