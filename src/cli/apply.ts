import { readFile } from 'node:fs/promises';
import { formatProblem } from '../errors.js';
import { policyFiles } from '../policy/load.js';
import type { ApplyOutcome } from '../state/policies.js';
import { parseVerbArgs } from './args.js';
import { AdminClient, CLIENT_FLAGS, CLIENT_HELP, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const applyHelp = `Usage: joch apply -f PATH [-f PATH ...] --env ENV [--server URL] [--token-file FILE]
                  [--tenant NAME]

Sends Policy resources to the gateway's admin API, which validates them and stores a new
version of each policy whose content changed (v1, v2, ... per environment); replicas pick
the change up within a second. Nothing is stored when any file is invalid: every problem
is printed as file:line:col. Needs the operator (or admin) role for each policy's
namespace in ENV.

  -f, --file PATH          policy file or folder (searched for *.yaml, *.yml); repeatable
      --env ENV            environment to apply to, e.g. staging
${CLIENT_HELP}
  -h, --help               show this help

Exit status: 0 when applied, 1 on invalid policies or an API error, 2 on a usage error.
`;

export async function apply(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('apply', argv, { env: { type: 'string' }, ...CLIENT_FLAGS });
  if (values.env === undefined) throw new UsageError('joch apply: give --env ENV (e.g. --env staging)');
  const { files, problems } = policyFiles(paths);
  for (const p of problems) io.err(`${formatProblem(p)}\n`);
  if (problems.length > 0) return Exit.problems;
  const sources = await Promise.all(files.map(async (file) => ({ file, text: await readFile(file, 'utf8') })));
  const client = await AdminClient.from('apply', values);
  const r = await client.call<{ applied: ApplyOutcome[]; warnings: Parameters<typeof formatProblem>[0][] }>('POST', '/v1/policies/apply', { environment: values.env }, { sources });
  if (!r.ok) {
    io.err(formatApiError('apply', r.error));
    return Exit.problems;
  }
  for (const w of r.body.warnings) io.err(`${formatProblem(w)}\n`);
  for (const a of r.body.applied) io.out(`${a.namespace ?? '_'}/${a.name}: ${a.changed ? `applied as v${a.version}` : `unchanged (v${a.version})`} in ${values.env}\n`);
  return Exit.ok;
}
