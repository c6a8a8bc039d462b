import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The flags every policy-reading verb takes: -f/--file (repeatable) and -h/--help. */
const COMMON = {
  file: { type: 'string', short: 'f', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/**
 * Strict flag parsing for a verb: unknown flags and missing values are usage errors naming
 * the verb. Policy paths come from -f flags and positional arguments (at least one, unless
 * `requirePaths` is false).
 */
export function parseVerbArgs<T extends Options>(verb: string, argv: string[], options: T, requirePaths = true) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...COMMON, ...options }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`joch ${verb}: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
  const { values, positionals } = parsed;
  const paths = [...((values as { file?: string[] }).file ?? []), ...positionals];
  if (requirePaths && paths.length === 0) throw new UsageError(`joch ${verb}: give at least one -f PATH`);
  return { values, paths };
}

/** Whether the arguments ask for help (answered before any other parsing). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('-h') || argv.includes('--help');
}

/** `--default-decision` / `JOCH_DEFAULT_DECISION`: allow (the default) or deny. */
export function parseDefaultDecision(verb: string, value: string | undefined): 'allow' | 'deny' {
  const v = value ?? process.env.JOCH_DEFAULT_DECISION ?? 'allow';
  if (v !== 'allow' && v !== 'deny') throw new UsageError(`joch ${verb}: the default decision must be allow or deny, not "${v}"`);
  return v;
}
