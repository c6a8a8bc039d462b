import type { GrantOutcome } from '../overrides/grants.js';
import { parseVerbArgs } from './args.js';
import { AdminClient, CLIENT_FLAGS, CLIENT_HELP, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const approveHelp = `Usage: joch approve DECISION_ID --reason TEXT [--reject] [--ttl DURATION]
                    [--server URL] [--token-file FILE] [--tenant NAME]
       joch approve --list [--limit N] [--server URL] [--token-file FILE] [--tenant NAME]

Approves (or, with --reject, rejects) a decision waiting for a human approval (a rule with
require: {approval: human}). An approval lets the same request through once: the same
agent, policy, rule and request fingerprint (see the README), on any replica, within --ttl.
Decision ids come from the x-joch-decision-id header of the denial or the audit log, and
can be decided once, within an hour of the denial. Needs the approver (or admin) role for
the policy's namespace in the gateway's environment. The approval is audited with the
reason and the operator. --list shows the open denials you may decide (oldest first): id,
what you may do, agent, policy rule, reason, when it was denied and until when it stays open.

  DECISION_ID              the decisionId of the pending decision
      --reason TEXT        why (required; recorded in the audit log)
      --reject             record a rejection instead: nothing is let through
      --ttl DURATION       how long the approval waits to be used, e.g. 90s, 30m
                           (default 15m, at most 1h)
      --list               list the open denials instead (GET /v1/approvals)
      --limit N            with --list: at most N (default 100, at most 1000)
${CLIENT_HELP}
  -h, --help               show this help

Exit status: 0 when recorded (or listed), 1 on an API error (unknown or already decided id, not
pending, forbidden), 2 on a usage error.
`;

export async function approve(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('approve', argv, { reason: { type: 'string' }, reject: { type: 'boolean' }, ttl: { type: 'string' }, list: { type: 'boolean' }, limit: { type: 'string' }, ...CLIENT_FLAGS }, false);
  if (values.list) {
    if (paths.length > 0 || values.reason !== undefined || values.reject || values.ttl !== undefined) throw new UsageError('joch approve: --list takes no DECISION_ID, --reason, --reject or --ttl');
    return listOpen(values, io);
  }
  if (values.limit !== undefined) throw new UsageError('joch approve: --limit goes with --list');
  return decideOnce('approve', '/v1/approvals', paths, values, io, { verdict: values.reject ? 'reject' : 'approve' });
}

interface OpenDenial {
  decisionId: string;
  actions: string[];
  agent: string | null;
  policyNamespace: string | null;
  /** The policy's name. */
  policyId: string;
  ruleId: string;
  reason: string;
  deniedAt: string;
  expiresAt: string;
}

async function listOpen(values: { limit?: string; server?: string; 'token-file'?: string; tenant?: string }, io: CliIO): Promise<number> {
  const client = await AdminClient.from('approve', values);
  const r = await client.call<{ tenant: string; open: OpenDenial[] }>('GET', '/v1/approvals', { limit: values.limit });
  if (!r.ok) {
    io.err(formatApiError('approve', r.error));
    return Exit.problems;
  }
  if (r.body.open.length === 0) io.out(`no open denials you may decide in tenant ${r.body.tenant}\n`);
  for (const d of r.body.open) {
    io.out(`${d.decisionId}  ${d.actions.join('/')}  agent ${d.agent ?? '-'}  ${d.policyNamespace ?? '_'}/${d.policyId} rule ${d.ruleId}  ${d.reason}  denied ${d.deniedAt}, open until ${d.expiresAt}\n`);
  }
  return Exit.ok;
}

/** Shared by approve and override: one DECISION_ID, --reason, optional --ttl. */
export async function decideOnce(
  verb: string,
  path: string,
  positionals: readonly string[],
  values: { reason?: string; ttl?: string; server?: string; 'token-file'?: string; tenant?: string },
  io: CliIO,
  extra: Record<string, string> = {},
): Promise<number> {
  const [decisionId, ...rest] = positionals;
  if (decisionId === undefined || rest.length > 0) throw new UsageError(`joch ${verb}: give exactly one DECISION_ID`);
  if (values.reason === undefined || values.reason.trim() === '') throw new UsageError(`joch ${verb}: --reason TEXT is required`);
  const client = await AdminClient.from(verb, values);
  const r = await client.call<GrantOutcome>('POST', path, {}, { decisionId, reason: values.reason, ...(values.ttl !== undefined ? { ttl: values.ttl } : {}), ...extra });
  if (!r.ok) {
    io.err(formatApiError(verb, r.error));
    return Exit.problems;
  }
  const o = r.body;
  const rule = `${o.policy.namespace ?? '_'}/${o.policy.name} rule ${o.ruleId}`;
  io.out(o.verdict === 'rejected' ? `decision ${o.decisionId} (${rule}): rejected\n` : `decision ${o.decisionId} (${rule}): ${o.verdict}; the same request from ${o.agent ?? 'the same caller'} passes once until ${o.expiresAt}\n`);
  return Exit.ok;
}
