import { decideOnce } from './approve.js';
import { parseVerbArgs } from './args.js';
import { CLIENT_FLAGS, CLIENT_HELP } from './client.js';
import type { CliIO } from './io.js';

export const overrideHelp = `Usage: joch override DECISION_ID --reason TEXT [--ttl DURATION]
                     [--server URL] [--token-file FILE] [--tenant NAME]

Break-glass: lets the same request as a denied decision through once (the same agent,
policy, rule and request fingerprint; see the README), on any replica, within --ttl.
Needs the break-glass role (its own binding: admin does not include it; the static admin
token cannot). Decision ids come from the x-joch-decision-id header of the denial or the
audit log, and can be overridden once, within an hour of the denial. The override is
audited with the reason and the operator, and again when it is used.

  DECISION_ID              the decisionId of the denial
      --reason TEXT        why (required; recorded in the audit log)
      --ttl DURATION       how long the override waits to be used, e.g. 90s, 30m
                           (default 15m, at most 1h)
${CLIENT_HELP}
  -h, --help               show this help

Exit status: 0 when recorded, 1 on an API error (unknown or already decided id,
forbidden), 2 on a usage error.
`;

export async function override(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('override', argv, { reason: { type: 'string' }, ttl: { type: 'string' }, ...CLIENT_FLAGS }, false);
  return decideOnce('override', '/v1/overrides', paths, values, io);
}
