import { readFile } from 'node:fs/promises';
import { parseContexts } from '../context/parse.js';
import { formatProblem } from '../errors.js';
import { Engine } from '../policy/engine.js';
import { loadPolicies } from '../policy/load.js';
import { PolicySet } from '../policy/policy-set.js';
import { parseDefaultDecision, parseVerbArgs } from './args.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const evalHelp = `Usage: joch eval -f PATH [-f PATH ...] --context FILE|- [--explain]
                 [--default-decision allow|deny]

Evaluates decision contexts against Policy resources and prints the decision as JSON:
{decision, reason, modifiedRequest?, policyId, policyNamespace, policyVersion, ruleId,
decisionId, pending?, matched, findings?} (findings: what annotate rules found, never the text).

  -f, --file PATH              policy file or folder (as for joch validate); repeatable
  -c, --context FILE           a DecisionContext as JSON (or an array of them, giving an
                               array of decisions); - reads standard input
      --explain                also print which policies were considered, whether each
                               applied and why, and how every rule's conditions came out
      --default-decision D     decision when no rule fires: allow (default) or deny;
                               also JOCH_DEFAULT_DECISION
  -h, --help                   show this help

The DecisionContext schema is src/context/decision-context.schema.json.
Exit status: 0 when decisions were printed (whatever they decided), 1 when the policies or
the context are invalid (every problem is printed), 2 on a usage error.
`;

export async function evaluate(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('eval', argv, {
    context: { type: 'string', short: 'c' },
    explain: { type: 'boolean' },
    'default-decision': { type: 'string' },
  });
  if (values.context === undefined) throw new UsageError('joch eval: give --context FILE (or - for standard input)');
  const defaultDecision = parseDefaultDecision('eval', values['default-decision']);

  const loaded = loadPolicies(paths);
  const errors = loaded.problems.filter((p) => p.severity !== 'warning');
  for (const p of loaded.problems) io.err(`${formatProblem(p)}\n`);
  if (errors.length > 0) return Exit.problems;

  const contextFile = values.context === '-' ? '<stdin>' : values.context;
  let text: string;
  try {
    text = values.context === '-' ? await io.readStdin() : await readFile(values.context, 'utf8');
  } catch (err) {
    io.err(`${contextFile}: JOCH_IO: cannot read the context: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    return Exit.problems;
  }
  const parsed = parseContexts(text, contextFile);
  for (const p of parsed.problems) io.err(`${formatProblem(p)}\n`);
  if (parsed.problems.length > 0) return Exit.problems;

  const engine = new Engine(new PolicySet(loaded.policies), { defaultDecision });
  const results = parsed.contexts.map((ctx) => (values.explain ? engine.explain(ctx) : engine.evaluate(ctx)));
  const single = !text.trimStart().startsWith('[');
  io.out(`${JSON.stringify(single ? results[0] : results, null, 2)}\n`);
  return Exit.ok;
}
