import { BlockList, isIP } from 'node:net';
import { canonicalIp, ipFamily } from '../context/address.js';
import type { DecisionContext } from '../context/types.js';
import { compileGlob } from './glob.js';
import { Codes, type DocPath, type ProblemSink } from './problems.js';
import type { EgressEntry, EgressEntrySpec } from './types.js';

const HOST_PATTERN = /^(\*\.)?([a-z0-9*]([-a-z0-9*]*[a-z0-9*])?)(\.[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?)*$/;

export function compileEgress(entries: EgressEntrySpec[], at: DocPath, sink: ProblemSink): EgressEntry[] | undefined {
  const out: EgressEntry[] = [];
  let ok = true;
  for (const [i, spec] of entries.entries()) {
    const entry = compileEntry(spec, [...at, i], sink);
    if (entry) out.push(entry);
    else ok = false;
  }
  return ok ? out : undefined;
}

function compileEntry(spec: EgressEntrySpec, at: DocPath, sink: ProblemSink): EgressEntry | undefined {
  let ok = true;
  const hosts = spec.hosts?.map((raw, j) => {
    const host = raw.toLowerCase().replace(/\.$/, '');
    if (canonicalIp(host) !== undefined || host.includes('/')) {
      sink.error(Codes.egress, `"${raw}" is an address; list addresses under "cidrs"`, [...at, 'hosts', j], 'host rules never match IP literals, so an address cannot slip past them');
      ok = false;
    } else if (!HOST_PATTERN.test(host)) {
      sink.error(Codes.egress, `"${raw}" is not a host name or host glob`, [...at, 'hosts', j], 'write e.g. api.openai.com or *.openai.com');
      ok = false;
    }
    return compileGlob(host, 'host');
  });
  let cidrs: ((ip: string) => boolean) | undefined;
  if (spec.cidrs) {
    const list = new BlockList();
    for (const [j, raw] of spec.cidrs.entries()) {
      const [addr = '', prefixText] = raw.split('/');
      const ip = canonicalIp(addr);
      const bits = ip === undefined ? 0 : isIP(ip) === 4 ? 32 : 128;
      const prefix = prefixText === undefined ? bits : Number(prefixText);
      if (ip === undefined || !/^\d{1,3}$/.test(prefixText ?? String(bits)) || prefix > bits) {
        sink.error(Codes.egress, `"${raw}" is not an address range`, [...at, 'cidrs', j], 'write e.g. 10.0.0.0/8, 192.168.1.7 or 2001:db8::/32');
        ok = false;
        continue;
      }
      list.addSubnet(ip, prefix, ipFamily(ip));
    }
    cidrs = (candidate) => list.check(candidate, ipFamily(candidate));
  }
  if (!ok) return undefined;
  return {
    ...(hosts ? { hosts } : {}),
    ...(cidrs ? { cidrs } : {}),
    ...(spec.ports ? { ports: new Set(spec.ports) } : {}),
    text: JSON.stringify(spec),
  };
}

/**
 * Whether an entry allows the destination; every field the entry has must match. `hosts`
 * needs every name the destination carries (a non-IP host, the TLS SNI) to match, and
 * never matches an IP-literal host; `cidrs` needs its IP (an IP-literal host, else the
 * original destination address); `ports` its port. Missing facts fail closed.
 */
export function egressAllows(entry: EgressEntry, dest: NonNullable<DecisionContext['destination']>): boolean {
  if (entry.ports !== undefined && (dest.port === undefined || !entry.ports.has(dest.port))) return false;
  const hostIp = dest.host === undefined ? undefined : canonicalIp(dest.host);
  if (entry.hosts !== undefined) {
    if (hostIp !== undefined) return false;
    const names = [dest.host, dest.sni].filter((n): n is string => n !== undefined);
    if (names.length === 0) return false;
    for (const name of names) if (!entry.hosts.some((h) => h(name))) return false;
  }
  if (entry.cidrs !== undefined) {
    const ip = hostIp ?? (dest.address === undefined ? undefined : canonicalIp(dest.address));
    if (ip === undefined || !entry.cidrs(ip)) return false;
  }
  return true;
}

/** `api.openai.com:443`, `sni api.openai.com`, `10.0.0.7:5432`: the destination in a message. */
export function describeDestination(dest: DecisionContext['destination']): string {
  if (dest === undefined) return 'an unknown destination';
  const name = dest.host ?? (dest.sni !== undefined ? `sni ${dest.sni}` : dest.address) ?? 'an unknown destination';
  const host = name.includes(':') && canonicalIp(name) !== undefined ? `[${name}]` : name;
  return dest.port === undefined ? host : `${host}:${dest.port}`;
}
