import { writeFile } from 'node:fs/promises';
import type { VerifyResult } from '../audit/verify.js';
import { parseVerbArgs } from './args.js';
import { AdminClient, CLIENT_FLAGS, CLIENT_HELP, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const auditHelp = `Usage: joch audit verify [--server URL] [--token-file FILE] [--tenant NAME]
       joch audit export [--format jsonl|ocsf] [-o FILE] [--from SEQ]
                         [--server URL] [--token-file FILE] [--tenant NAME]

verify  recomputes the tenant's hash chain and checks it against the signed checkpoints;
        names the first record that was changed, removed or reordered.
export  prints the tenant's audit records as JSON Lines, or as OCSF events (API Activity
        6003 with the Security Control profile; Detection Finding 2004 for denials).

      --format F           jsonl (default) or ocsf
  -o, --output FILE        write to FILE instead of standard output
      --from SEQ           start at this sequence number (default 1)
${CLIENT_HELP}
  -h, --help               show this help

Needs a role bound to every namespace and environment of the tenant. Exit status: 0 when
the chain verifies (or the export is written), 1 when it does not or on an API error,
2 on a usage error.
`;

export async function audit(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('audit', argv, { format: { type: 'string' }, output: { type: 'string', short: 'o' }, from: { type: 'string' }, ...CLIENT_FLAGS }, false);
  const [sub, ...rest] = paths;
  if ((sub !== 'verify' && sub !== 'export') || rest.length > 0) throw new UsageError('joch audit: expected "verify" or "export"');
  const client = await AdminClient.from('audit', values);
  if (sub === 'verify') {
    const r = await client.call<VerifyResult & { tenant: string; checkpointsByOtherKeys: number }>('GET', '/v1/audit/verify');
    if (!r.ok) {
      io.err(formatApiError('audit verify', r.error));
      return Exit.problems;
    }
    const v = r.body;
    if (v.ok) {
      io.out(`tenant ${v.tenant}: ${v.records} records${v.firstSeq > 1 ? ` (from ${v.firstSeq})` : ''} verify; head ${v.headHash}; ${v.checkpoints} signed checkpoint(s) match${v.checkpointsByOtherKeys > 0 ? ` (${v.checkpointsByOtherKeys} signed with other keys not checked)` : ''}\n`);
      return Exit.ok;
    }
    io.out(`tenant ${v.tenant}: FAILED at record ${v.seq} (${v.problem}): ${v.message}\n`);
    return Exit.problems;
  }
  const format = values.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'ocsf') throw new UsageError(`joch audit export: --format must be jsonl or ocsf, not "${format}"`);
  const r = await client.call<string>('GET', '/v1/audit/export', { format, from: values.from });
  if (!r.ok) {
    io.err(formatApiError('audit export', r.error));
    return Exit.problems;
  }
  if (values.output !== undefined) await writeFile(values.output, r.body);
  else io.out(r.body);
  return Exit.ok;
}
