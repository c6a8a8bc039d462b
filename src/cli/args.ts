import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Strict flag parsing: unknown flags and missing values are usage errors with the verb's name. */
export function parseFlags<T extends Options>(verb: string, argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`joch ${verb}: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
}
