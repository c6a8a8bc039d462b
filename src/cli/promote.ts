import type { ApplyOutcome } from '../state/policies.js';
import { parseVerbArgs } from './args.js';
import { AdminClient, CLIENT_FLAGS, CLIENT_HELP, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const promoteHelp = `Usage: joch promote policy NAME --from ENV --to ENV [--namespace NS] [--version N]
                    [--server URL] [--token-file FILE] [--tenant NAME]

Copies a policy version (default: the current one in --from) into another environment,
where it becomes that environment's next version. Needs read access in --from and the
approver (or admin) role in --to.

      --from ENV           source environment, e.g. staging
      --to ENV             target environment, e.g. prod
  -n, --namespace NS       the policy's namespace (omit for a policy without one)
      --version N          promote this version of --from instead of the current one
${CLIENT_HELP}
  -h, --help               show this help

Exit status: 0 when promoted (or already current), 1 on an API error, 2 on a usage error.
`;

export async function promote(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('promote', argv, { from: { type: 'string' }, to: { type: 'string' }, namespace: { type: 'string', short: 'n' }, version: { type: 'string' }, ...CLIENT_FLAGS }, false);
  const name = policyName('promote', paths);
  if (values.from === undefined || values.to === undefined) throw new UsageError('joch promote: give --from ENV and --to ENV');
  const client = await AdminClient.from('promote', values);
  const body = { from: values.from, to: values.to, ...(values.version !== undefined ? { version: Number(values.version) } : {}) };
  const r = await client.call<ApplyOutcome>('POST', `/v1/policies/${encodeURIComponent(values.namespace ?? '_')}/${encodeURIComponent(name)}/promote`, {}, body);
  if (!r.ok) {
    io.err(formatApiError('promote', r.error));
    return Exit.problems;
  }
  io.out(`${values.namespace ?? '_'}/${name}: ${r.body.changed ? `promoted from ${values.from} to ${values.to} as v${r.body.version}` : `already current in ${values.to} (v${r.body.version})`}\n`);
  return Exit.ok;
}

/** `policy NAME` positionals. */
export function policyName(verb: string, positionals: readonly string[]): string {
  const [kind, name, ...rest] = positionals;
  if (kind !== 'policy' || name === undefined || rest.length > 0) throw new UsageError(`joch ${verb}: expected "policy NAME"`);
  return name;
}
