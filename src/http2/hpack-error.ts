/**
 * A malformed header block, which is a connection error (COMPRESSION_ERROR, RFC 9113 §4.3),
 * or a header list the encoder refuses to send. The message says what and at which byte.
 */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}
