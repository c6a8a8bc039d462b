import { formatProblem } from '../errors.js';
import { loadPolicyFolders } from '../secrets/load.js';
import { parseVerbArgs } from './args.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const validateHelp = `Usage: joch validate -f PATH [-f PATH ...] [--format text|json]

Checks Policy resources: YAML syntax, the schema (unknown or misspelt fields, wrong
types), condition paths, matchers and operators, regular expressions (RE2 syntax only,
so none can backtrack catastrophically), label selectors and duplicate names. Checks the
Secret resources beside them (references only: an inline value is an error) and that
every inject names a Secret in scope.

  -f, --file PATH   a YAML file (several documents allowed) or a folder, searched
                    recursively for *.yaml and *.yml; repeatable
      --format F    text (default): one problem per line as
                    file:line:col: CODE: message, with a hint where one helps;
                    json: {"ok", "files", "policies", "problems": [...]}
  -h, --help        show this help

Exit status: 0 when there is no error (warnings allowed), 1 when there is any error,
2 on a usage error.
`;

export async function validate(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('validate', argv, {
    format: { type: 'string', default: 'text' },
  });
  if (values.format !== 'text' && values.format !== 'json') throw new UsageError(`joch validate: --format must be text or json, not "${values.format}"`);

  const result = loadPolicyFolders(paths);
  const errors = result.problems.filter((p) => p.severity !== 'warning').length;
  const warnings = result.problems.length - errors;
  if (values.format === 'json') {
    io.out(`${JSON.stringify({ ok: result.ok, files: result.files.length, policies: result.policies.length, secrets: result.secrets.length, problems: result.problems }, null, 2)}\n`);
  } else {
    for (const p of result.problems) io.out(`${formatProblem(p)}\n`);
    const secrets = result.secrets.length > 0 ? ` and ${result.secrets.length} ${result.secrets.length === 1 ? 'secret' : 'secrets'}` : '';
    const summary = `${result.policies.length} ${result.policies.length === 1 ? 'policy' : 'policies'}${secrets} in ${result.files.length} ${result.files.length === 1 ? 'file' : 'files'}`;
    io.out(errors === 0 ? `${summary}: valid${warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}\n` : `${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
  }
  return result.ok ? Exit.ok : Exit.problems;
}
