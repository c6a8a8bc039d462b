import type { RuleDisable } from '../overrides/rule-disables.js';
import { parseVerbArgs } from './args.js';
import { AdminClient, CLIENT_FLAGS, CLIENT_HELP, formatApiError } from './client.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const disableRuleHelp = `Usage: joch disable-rule POLICY RULE (--for DURATION | --until TIME) --follow-up TEXT
                         --reason TEXT [--environment ENV]
       joch disable-rule POLICY RULE --end [--reason TEXT] [--environment ENV]
       joch disable-rule --list [--environment ENV]
                         [--server URL] [--token-file FILE] [--tenant NAME]

Emergency policy disable: switches one rule of one policy off for a bounded window (at most
24 h), on every replica within a second; it comes back by itself when the window ends.
The other rules of the policy keep applying. Needs the admin role for the policy's
namespace in the environment. Disabling, ending early and the follow-up are audited.

  POLICY                   NAMESPACE/NAME of the policy (NAME for one without a namespace)
  RULE                     the rule id, as decisions show it (ruleId); "egress" is the
                           policy's egress allow-list
      --for DURATION       how long, e.g. 30m, 2h (at most 24h)
      --until TIME         or until when (ISO 8601, at most 24 h from now)
      --follow-up TEXT     the mandatory follow-up: a ticket or what must be fixed
      --reason TEXT        why (required when disabling)
      --end                end the window now (re-enables the rule)
      --list               list the rules disabled now
  -e, --environment ENV    environment (default: the gateway's own)
${CLIENT_HELP}
  -h, --help               show this help

Exit status: 0 when done, 1 on an API error (forbidden, unknown rule, not disabled),
2 on a usage error.
`;

export async function disableRule(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs(
    'disable-rule',
    argv,
    { for: { type: 'string' }, until: { type: 'string' }, 'follow-up': { type: 'string' }, reason: { type: 'string' }, end: { type: 'boolean' }, list: { type: 'boolean' }, environment: { type: 'string', short: 'e' }, ...CLIENT_FLAGS },
    false,
  );
  const environment = values.environment;
  if (values.list) {
    if (paths.length > 0 || values.end) throw new UsageError('joch disable-rule: --list takes no POLICY, RULE or --end');
    const client = await AdminClient.from('disable-rule', values);
    const r = await client.call<{ environment: string; disabled: RuleDisable[] }>('GET', '/v1/overrides/rules', { environment });
    if (!r.ok) {
      io.err(formatApiError('disable-rule', r.error));
      return Exit.problems;
    }
    if (r.body.disabled.length === 0) io.out(`no rules disabled in ${r.body.environment}\n`);
    for (const d of r.body.disabled) io.out(`${d.policyNamespace ?? '_'}/${d.policyName} ${d.ruleId}  until ${d.until}  by ${d.disabledBy}  follow-up: ${d.followUp}\n`);
    return Exit.ok;
  }
  const [policy, rule, ...rest] = paths;
  if (policy === undefined || rule === undefined || rest.length > 0) throw new UsageError('joch disable-rule: give POLICY and RULE');
  const [ns, name, ...more] = policy.includes('/') ? policy.split('/') : ['_', policy];
  if (ns === undefined || name === undefined || more.length > 0 || ns === '' || name === '') throw new UsageError(`joch disable-rule: POLICY must be NAMESPACE/NAME or NAME, not "${policy}"`);
  const client = await AdminClient.from('disable-rule', values);
  if (values.end) {
    if (values.for !== undefined || values.until !== undefined || values['follow-up'] !== undefined) throw new UsageError('joch disable-rule: --end takes no --for, --until or --follow-up');
    const r = await client.call<RuleDisable>('DELETE', `/v1/overrides/rules/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${encodeURIComponent(rule)}`, { environment, reason: values.reason });
    if (!r.ok) {
      io.err(formatApiError('disable-rule', r.error));
      return Exit.problems;
    }
    io.out(`${ns}/${name} rule ${rule}: enabled again in ${r.body.environment}\n`);
    return Exit.ok;
  }
  if ((values.for === undefined) === (values.until === undefined)) throw new UsageError('joch disable-rule: give --for DURATION or --until TIME (a disable always ends by itself)');
  if (values['follow-up'] === undefined || values['follow-up'].trim() === '') throw new UsageError('joch disable-rule: --follow-up TEXT is required');
  if (values.reason === undefined || values.reason.trim() === '') throw new UsageError('joch disable-rule: --reason TEXT is required');
  const body = { policy: `${ns}/${name}`, rule, reason: values.reason, followUp: values['follow-up'], ...(values.for !== undefined ? { ttl: values.for } : { until: values.until }), ...(environment !== undefined ? { environment } : {}) };
  const r = await client.call<RuleDisable>('POST', '/v1/overrides/rules', {}, body);
  if (!r.ok) {
    io.err(formatApiError('disable-rule', r.error));
    return Exit.problems;
  }
  io.out(`${ns}/${name} rule ${rule}: disabled in ${r.body.environment} until ${r.body.until} (follow-up: ${r.body.followUp})\n`);
  return Exit.ok;
}
