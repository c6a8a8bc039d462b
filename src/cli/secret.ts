import { parseArgs } from 'node:util';
import { DEFAULTS, parseHostPort } from '../config.js';
import { JochError } from '../errors.js';
import { httpCall, type HttpAnswer } from '../secrets/http.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const secretHelp = `Usage: joch secret rotate NAME [--admin HOST:PORT] [--operator NAME]

Rotates a Secret: every gateway replica drops its cached value (through Redis pub/sub when
the gateways share one) and fetches the current value from the provider; the rotation is
audited. Rotate the value at the provider first (Vault, Kubernetes, AWS, the file or the
environment), then run this. Talks to a running gateway's admin API
(POST /secrets/NAME/rotate); no value is ever printed.

  NAME                     metadata.name of a kind: Secret resource
      --admin HOST:PORT    the gateway's admin server (default 127.0.0.1:9901; also JOCH_ADMIN)
      --operator NAME      who rotates, recorded in the audit event
  -h, --help               show this help

Exit status: 0 when the new value was fetched, 1 when the rotation failed or the provider
did not answer (the old value is dropped either way), 2 on a usage error.
`;

export async function secret(argv: string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { admin: { type: 'string' }, operator: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`joch secret: ${(err as Error).message.replace(/\. To specify a positional argument.*$/s, '')}`);
  }
  const [action, name, ...extra] = parsed.positionals;
  if (action !== 'rotate') throw new UsageError(action === undefined ? 'joch secret: say what to do (rotate)' : `joch secret: unknown action "${action}" (only rotate)`);
  if (name === undefined || extra.length > 0) throw new UsageError('joch secret rotate: give exactly one Secret NAME');
  let admin;
  try {
    admin = parseHostPort(parsed.values.admin ?? process.env.JOCH_ADMIN ?? DEFAULTS.admin, 'admin');
  } catch (err) {
    throw new UsageError(`joch secret rotate: ${(err as JochError).message}`);
  }
  const host = admin.host.includes(':') ? `[${admin.host}]` : admin.host;
  let res: HttpAnswer;
  try {
    res = await httpCall({
      method: 'POST',
      url: `http://${host}:${admin.port}/secrets/${encodeURIComponent(name)}/rotate`,
      headers: parsed.values.operator ? { 'x-joch-operator': parsed.values.operator } : {},
      timeoutMs: 30_000,
    });
  } catch (err) {
    io.err(`joch secret rotate: cannot reach the admin API at ${(err as Error).message}\n`);
    return Exit.problems;
  }
  let body: { error?: string } = {};
  try {
    body = JSON.parse(res.body) as { error?: string };
  } catch {
    // not JSON: the status says enough
  }
  if (res.status === 200) {
    io.out(`secret "${name}" rotated: cached values dropped on every replica, new value fetched\n`);
    return Exit.ok;
  }
  io.err(`joch secret rotate: ${res.status === 502 ? `secret "${name}": cached values dropped, but the new value could not be fetched: ${body.error ?? 'provider error'}` : (body.error ?? `the admin API answered ${res.status}`)}\n`);
  return Exit.problems;
}
