import type { GrantOutcome } from '../overrides/grants.js';
import { parseVerbArgs } from './args.js';
import { AdminClient, CLIENT_FLAGS, CLIENT_HELP, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const approveHelp = `Usage: joch approve DECISION_ID --reason TEXT [--reject] [--ttl DURATION]
                    [--server URL] [--token-file FILE] [--tenant NAME]

Approves (or, with --reject, rejects) a decision waiting for a human approval (a rule with
require: {approval: human}). An approval lets the same request through once: the same
agent, policy, rule and request fingerprint (see the README), on any replica, within --ttl.
Decision ids come from the x-joch-decision-id header of the denial or the audit log, and
can be decided once, within an hour of the denial. Needs the approver (or admin) role for
the policy's namespace in the gateway's environment. The approval is audited with the
reason and the operator.

  DECISION_ID              the decisionId of the pending decision
      --reason TEXT        why (required; recorded in the audit log)
      --reject             record a rejection instead: nothing is let through
      --ttl DURATION       how long the approval waits to be used, e.g. 90s, 30m
                           (default 15m, at most 1h)
${CLIENT_HELP}
  -h, --help               show this help

Exit status: 0 when recorded, 1 on an API error (unknown or already decided id, not
pending, forbidden), 2 on a usage error.
`;

export async function approve(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('approve', argv, { reason: { type: 'string' }, reject: { type: 'boolean' }, ttl: { type: 'string' }, ...CLIENT_FLAGS }, false);
  return decideOnce('approve', '/v1/approvals', paths, values, io, { verdict: values.reject ? 'reject' : 'approve' });
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
