import { apply, applyHelp } from './apply.js';
import { wantsHelp } from './args.js';
import { approve, approveHelp } from './approve.js';
import { audit, auditHelp } from './audit.js';
import { disableRule, disableRuleHelp } from './disable-rule.js';
import { evalHelp, evaluate } from './eval.js';
import { Exit, UsageError, processIO, type CliIO } from './io.js';
import { promote, promoteHelp } from './promote.js';
import { rollback, rollbackHelp } from './rollback.js';
import { secret, secretHelp } from './secret.js';
import { mcpPins, mcpPinsHelp } from './mcp-pins.js';
import { override, overrideHelp } from './override.js';
import { serve, serveHelp } from './serve.js';
import { validate, validateHelp } from './validate.js';

type Verb = { run: (argv: string[], io: CliIO) => Promise<number>; help: string; summary: string };

const VERBS: Record<string, Verb> = {
  serve: { run: serve, help: serveHelp, summary: 'start the gateway on the policies under a folder' },
  validate: { run: validate, help: validateHelp, summary: 'check Policy resources; every problem as file:line:col' },
  eval: { run: evaluate, help: evalHelp, summary: 'decide a DecisionContext against policies and print the decision' },
  apply: { run: apply, help: applyHelp, summary: 'store new policy versions in an environment (admin API)' },
  promote: { run: promote, help: promoteHelp, summary: 'copy a policy version from one environment to another' },
  rollback: { run: rollback, help: rollbackHelp, summary: 'make an earlier policy version current again' },
  audit: { run: audit, help: auditHelp, summary: 'verify or export the hash-chained audit log' },
  secret: { run: secret, help: secretHelp, summary: 'rotate a Secret on every gateway replica (joch secret rotate NAME)' },
  approve: { run: approve, help: approveHelp, summary: 'approve (or reject) a decision waiting for a human approval, once' },
  override: { run: override, help: overrideHelp, summary: 'break-glass: let the request of a denied decision through once' },
  'disable-rule': { run: disableRule, help: disableRuleHelp, summary: 'switch one policy rule off for a bounded window (emergency)' },
  'mcp-pins': { run: mcpPins, help: mcpPinsHelp, summary: 'review and accept changed MCP server tool lists' },
};

export const mainHelp = `Usage: joch <command> [options]

Joch gateway: decides allow / deny / modify for every external action an AI agent takes.

Commands:
${Object.entries(VERBS)
  .map(([name, v]) => `  ${name.padEnd(12)} ${v.summary}`)
  .join('\n')}

Run 'joch <command> --help' for a command's options.

Options:
  -h, --help     show this help
  -v, --version  print the version
`;

export async function main(argv: string[], io: CliIO = processIO): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === '-h' || verb === '--help' || verb === 'help') {
    const topic = verb === 'help' && rest[0] !== undefined ? VERBS[rest[0]] : undefined;
    io.out(topic ? topic.help : mainHelp);
    return verb === undefined ? Exit.usage : Exit.ok;
  }
  if (verb === '-v' || verb === '--version') {
    io.out(`${await version()}\n`);
    return Exit.ok;
  }
  const command = Object.hasOwn(VERBS, verb) ? VERBS[verb] : undefined;
  if (!command) {
    io.err(`joch: unknown command "${verb}"\n\n${mainHelp}`);
    return Exit.usage;
  }
  if (wantsHelp(rest)) {
    io.out(command.help);
    return Exit.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`${err.message}\n\n${command.help}`);
      return Exit.usage;
    }
    throw err;
  }
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
