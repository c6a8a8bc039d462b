import { isIP } from 'node:net';

/**
 * The canonical text of an IP address (`::ffff:10.0.0.1` → `10.0.0.1`), or undefined when
 * `text` is not an IP literal. Only standard notations count: a host like `0x7f.1` is not an
 * IP here, and host normalisation turns such spellings into dotted form first.
 */
export function canonicalIp(text: string): string | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = isIP(bare);
  if (family === 4) return bare;
  if (family !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1];
  return new URL(`http://[${bare}]/`).hostname.slice(1, -1); // RFC 5952 form: lower case, zeros compressed
}

export function ipFamily(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 4 ? 'ipv4' : 'ipv6';
}
