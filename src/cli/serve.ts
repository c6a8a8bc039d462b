import { pino } from 'pino';
import { JochError } from '../errors.js';
import { startGateway } from '../main.js';
import { parseDefaultDecision, parseVerbArgs } from './args.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const serveHelp = `Usage: joch serve -f PATH [-f PATH ...] [--admin HOST:PORT]
                  [--default-decision allow|deny]

Starts the gateway on its embedded defaults: in-memory state and the policies under PATH
(the README's start command uses policies/). Invalid policies stop the start with every
problem listed. SIGTERM or SIGINT closes the servers and exits 0.

  -f, --file PATH            policy file or folder; repeatable
      --admin HOST:PORT      admin server: GET /healthz, GET /readyz
                             (default 127.0.0.1:9901; also JOCH_ADMIN)
      --default-decision D   decision when no rule fires: allow (default) or deny;
                             also JOCH_DEFAULT_DECISION
  -h, --help                 show this help

Not there yet: the Envoy-facing gRPC servers (ext_authz, ext_proc) and the data-plane
HTTP authz port; this command loads and compiles the policies and serves the admin API.
`;

export async function serve(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('serve', argv, {
    admin: { type: 'string' },
    'default-decision': { type: 'string' },
  });
  const admin = parseHostPort(values.admin ?? process.env.JOCH_ADMIN ?? '127.0.0.1:9901', '--admin');
  const dd = parseDefaultDecision('serve', values['default-decision']);

  const log = pino({ name: 'joch' });
  let gateway;
  try {
    gateway = await startGateway({ policyPaths: paths, admin, defaultDecision: dd }, log);
  } catch (err) {
    io.err(`joch serve: ${err instanceof JochError ? err.format() : `cannot start: ${(err as Error).message}`}\n`);
    return Exit.problems;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await gateway.close();
  return Exit.ok;
}

export function parseHostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`joch serve: ${flag} must be HOST:PORT (e.g. 127.0.0.1:9901), not "${value}"`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port };
}
