import type { ApplyOutcome } from '../state/policies.js';
import { parseVerbArgs } from './args.js';
import { AdminClient, CLIENT_FLAGS, CLIENT_HELP, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';
import { policyName } from './promote.js';

export const rollbackHelp = `Usage: joch rollback policy NAME --env ENV [--namespace NS] [--to-version N]
                     [--server URL] [--token-file FILE] [--tenant NAME]

Makes an earlier version of a policy current again (default: the version before the
current one). The rollback is itself a new version, so history is never rewritten.
Needs the operator (or admin) role for the policy's namespace in ENV.

      --env ENV            environment, e.g. prod
  -n, --namespace NS       the policy's namespace (omit for a policy without one)
      --to-version N       the version to return to
${CLIENT_HELP}
  -h, --help               show this help

Exit status: 0 when rolled back, 1 on an API error, 2 on a usage error.
`;

export async function rollback(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('rollback', argv, { env: { type: 'string' }, namespace: { type: 'string', short: 'n' }, 'to-version': { type: 'string' }, ...CLIENT_FLAGS }, false);
  const name = policyName('rollback', paths);
  if (values.env === undefined) throw new UsageError('joch rollback: give --env ENV');
  const client = await AdminClient.from('rollback', values);
  const body = { environment: values.env, ...(values['to-version'] !== undefined ? { version: Number(values['to-version']) } : {}) };
  const r = await client.call<ApplyOutcome>('POST', `/v1/policies/${encodeURIComponent(values.namespace ?? '_')}/${encodeURIComponent(name)}/rollback`, {}, body);
  if (!r.ok) {
    io.err(formatApiError('rollback', r.error));
    return Exit.problems;
  }
  io.out(`${values.namespace ?? '_'}/${name}: rolled back in ${values.env}; now v${r.body.version}\n`);
  return Exit.ok;
}
