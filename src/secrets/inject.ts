import type { SecretInjection } from '../policy/types.js';
import type { SecretAccess } from './broker.js';
import type { KnownSecrets } from './known.js';

/** A header to set on the outbound request, value included: for Envoy's ok_response only. */
export interface InjectedHeader {
  readonly header: string;
  readonly value: string;
}

/** The injected headers when every Secret is warm; undefined when one must be fetched first. */
export function injectWarm(access: SecretAccess, injections: readonly SecretInjection[]): InjectedHeader[] | undefined {
  const out: InjectedHeader[] = [];
  for (const inj of injections) {
    const v = access.peek(inj.secret);
    if (v === undefined) return undefined;
    out.push({ header: inj.header, value: inj.prefix + v + inj.suffix });
  }
  return out;
}

/** The cold path: fetches what is missing. Rejects (no value in the error) when a Secret is unavailable. */
export async function injectCold(access: SecretAccess, injections: readonly SecretInjection[]): Promise<InjectedHeader[]> {
  const values = await Promise.all(injections.map((inj) => access.resolve(inj.secret)));
  return injections.map((inj, i) => ({ header: inj.header, value: inj.prefix + (values[i] as string) + inj.suffix }));
}

/**
 * The exfiltration guard: whether a request's headers (names and values, `:path` included) or
 * body carry a value the gateway injects, exactly or base64- or URL-encoded.
 */
export function carriesSecret(known: KnownSecrets, headers: Readonly<Record<string, string>>, body: string | undefined): boolean {
  if (known.size === 0) return false;
  for (const name in headers) {
    if (known.foundIn(headers[name] as string) || (name.length >= 8 && known.foundIn(name))) return true;
  }
  return body !== undefined && known.foundIn(body);
}
