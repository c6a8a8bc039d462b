import { parseArgs } from 'node:util';
import type { RotationEvent } from '../secrets/broker.js';
import { AdminClient, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const secretHelp = `Usage: joch secret rotate NAME [--server URL] [--token-file FILE]

Rotates a Secret: every gateway replica drops its cached value (through Redis pub/sub when
the gateways share one) and fetches the current value from the provider; the rotation is
audited with the authenticated operator as actor. Rotate the value at the provider first
(Vault, Kubernetes, AWS, the file or the environment), then run this. Talks to a running
gateway's admin API (POST /v1/secrets/NAME/rotate); needs the operator (or admin) role for
the Secret's namespace in the gateway's environment. No value is ever printed.

  NAME                     metadata.name of a kind: Secret resource
      --server URL         admin API (default http://127.0.0.1:9901; also JOCH_SERVER)
      --token-file FILE    file holding the bearer token (an OIDC access token or the
                           gateway's static admin token); also JOCH_TOKEN
  -h, --help               show this help

Exit status: 0 when the new value was fetched, 1 on an API error or when the provider did
not answer (the old value is dropped either way), 2 on a usage error.
`;

export async function secret(argv: string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { server: { type: 'string' }, 'token-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`joch secret: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
  const [action, name, ...extra] = parsed.positionals;
  if (action !== 'rotate') throw new UsageError(action === undefined ? 'joch secret: say what to do (rotate)' : `joch secret: unknown action "${action}" (only rotate)`);
  if (name === undefined || extra.length > 0) throw new UsageError('joch secret rotate: give exactly one Secret NAME');
  const client = await AdminClient.from('secret rotate', parsed.values);
  const r = await client.call<RotationEvent>('POST', `/v1/secrets/${encodeURIComponent(name)}/rotate`);
  if (!r.ok) {
    io.err(formatApiError('secret rotate', r.error));
    return Exit.problems;
  }
  io.out(`secret "${name}" rotated: cached values dropped on every replica, new value fetched\n`);
  return Exit.ok;
}
