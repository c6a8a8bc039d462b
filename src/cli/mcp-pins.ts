import { acceptPending, reviewPending } from '../context/mcp-pins.js';
import { JochError } from '../errors.js';
import { FilePinStore } from '../state/mcp-pins-file.js';
import { parseVerbArgs } from './args.js';
import { Exit, UsageError, type CliIO } from './io.js';

export const mcpPinsHelp = `Usage: joch mcp-pins list|review|accept [SERVER] --store FILE [--tenant T] [--format text|json]

MCP server pinning: the gateway pins the first tools/list each MCP server answers (per tool:
name, description hash, input-schema hash). A later list that changes a description or a
schema, adds a tool, or reuses another server's tool name waits as pending, and its answers
carry mcp.toolDrift for policies to deny or annotate, until an operator accepts it.

  list              every pinned server, and every server with a pending list
  review SERVER     what the pending list of SERVER changes: changed, new, collision, removed
  accept SERVER     make the pending list of SERVER the pinned one
      --store FILE  the pin store (JSON file)
      --tenant T    the tenant whose pins to read (default: none)
      --format F    text (default) or json
  -h, --help        show this help

Exit status: 0 on success, 1 when there is nothing to review or accept, 2 on a usage error.
`;

export async function mcpPins(argv: string[], io: CliIO): Promise<number> {
  const { values, paths } = parseVerbArgs('mcp-pins', argv, { store: { type: 'string' }, tenant: { type: 'string', default: '' }, format: { type: 'string', default: 'text' } }, false);
  const [sub, server] = paths;
  if (typeof values.store !== 'string') throw new UsageError('joch mcp-pins: give --store FILE');
  if (values.format !== 'text' && values.format !== 'json') throw new UsageError(`joch mcp-pins: --format must be text or json, not "${String(values.format)}"`);
  if (sub !== 'list' && sub !== 'review' && sub !== 'accept') throw new UsageError(`joch mcp-pins: the command is list, review or accept, not "${sub ?? ''}"`);
  if (sub !== 'list' && server === undefined) throw new UsageError(`joch mcp-pins ${sub}: name the SERVER`);
  const store = new FilePinStore(values.store);
  const scope = String(values.tenant);
  const json = values.format === 'json';
  try {
    const { pinned, pending } = await store.all();
    if (sub === 'list') {
      const rows = [...pinned.map((p) => ({ ...p, state: 'pinned' })), ...pending.map((p) => ({ ...p, state: 'pending' }))].filter((p) => p.scope === scope);
      if (json) io.out(`${JSON.stringify(rows.map((r) => ({ server: r.server, state: r.state, tools: r.tools.map((t) => t.name), at: r.at })), null, 2)}\n`);
      else for (const r of rows) io.out(`${r.state.padEnd(8)} ${r.server}  ${r.tools.length} tool${r.tools.length === 1 ? '' : 's'}  ${r.at}\n`);
      return Exit.ok;
    }
    const list = pending.find((p) => p.scope === scope && p.server === server);
    if (list === undefined) {
      io.err(`joch mcp-pins: ${server} has no pending tool list${scope ? ` for tenant ${scope}` : ''}\n`);
      return Exit.problems;
    }
    if (sub === 'review') {
      const changes = reviewPending(pinned, list);
      if (json) io.out(`${JSON.stringify(changes, null, 2)}\n`);
      else for (const c of changes) io.out(`${c.drift.padEnd(9)} ${c.tool}${c.with !== undefined ? ` (also on ${c.with})` : ''}\n`);
      return Exit.ok;
    }
    await acceptPending(store, scope, server as string);
    io.out(`accepted the tool list of ${server} (${list.tools.length} tool${list.tools.length === 1 ? '' : 's'})\n`);
    return Exit.ok;
  } catch (err) {
    if (err instanceof JochError) {
      io.err(`${err.format()}\n`);
      return Exit.problems;
    }
    throw err;
  }
}
