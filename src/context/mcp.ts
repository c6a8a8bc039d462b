import type { JsonRpcId, JsonRpcMessage } from './jsonrpc.js';
import { record } from './jsonrpc.js';
import type { DecisionContext } from './types.js';

/**
 * MCP (Model Context Protocol) over streamable HTTP: JSON-RPC requests POSTed by the agent,
 * answered with JSON or an event stream. Builds the decision contexts of each message. Pure.
 */

/** Methods of the MCP specification (2025-06-18), client → server and server → client. */
export const MCP_METHODS: ReadonlySet<string> = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'sampling/createMessage',
  'elicitation/create',
  'roots/list',
]);

export function isMcpMethod(method: string | undefined): boolean {
  return method !== undefined && (MCP_METHODS.has(method) || method.startsWith('notifications/'));
}

/** Side effects a tool may declare (tool.sideEffect in policies). */
export type SideEffect = 'none' | 'read' | 'internal_write' | 'external_write';

/** MCP tool annotations (hints, untrusted unless the server is). */
export interface ToolAnnotations {
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly openWorldHint?: boolean;
}

/**
 * The side effect from MCP annotations: read-only → `read`; otherwise a tool that reaches an
 * open world (the default per the spec) → `external_write`, a closed one → `internal_write`.
 */
export function sideEffectFromAnnotations(a: ToolAnnotations | undefined): SideEffect | undefined {
  if (a === undefined) return undefined;
  if (a.readOnlyHint === true) return 'read';
  return a.openWorldHint === false ? 'internal_write' : 'external_write';
}

/** Where tool side effects come from: a declared registry first, then what the server announced. */
export type SideEffectLookup = (server: string, tool: string) => string | undefined;

/** What a request said, kept to read its answer. */
export interface McpCallRecord {
  readonly method: string;
  readonly tool?: string;
  readonly arguments?: unknown;
}

/**
 * The contexts of one outbound MCP message: `tools/call` is a tool call (`toolCallRequest`)
 * and an MCP message (`mcpOutbound`); every other method and notification is `mcpOutbound`.
 * The payload is the message itself, so a redaction yields the message to send.
 */
export function mcpRequestContexts(base: DecisionContext, server: string, msg: JsonRpcMessage, sideEffect: SideEffectLookup | undefined): DecisionContext[] {
  const method = msg.method;
  const mcp = { server, direction: 'outbound' as const, ...(method !== undefined ? { method } : {}) };
  const outbound: DecisionContext = { ...base, hook: 'mcpOutbound', mcp, payload: msg };
  if (method !== 'tools/call') return [outbound];
  const params = record(msg.params);
  const name = typeof params?.['name'] === 'string' ? params['name'] : undefined;
  const effect = name === undefined ? undefined : sideEffect?.(server, name);
  const tool = { server, ...(name !== undefined ? { name } : {}), ...(params?.['arguments'] !== undefined ? { arguments: params['arguments'] } : {}), ...(effect !== undefined ? { sideEffect: effect } : {}) };
  return [{ ...base, hook: 'toolCallRequest', tool, mcp, payload: msg }, { ...outbound, tool }];
}

/** What to remember of a request to read its answer. */
export function mcpCallRecord(msg: JsonRpcMessage): McpCallRecord | undefined {
  if (msg.method === undefined) return undefined;
  const params = record(msg.params);
  const tool = msg.method === 'tools/call' && typeof params?.['name'] === 'string' ? params['name'] : undefined;
  return { method: msg.method, ...(tool !== undefined ? { tool, arguments: params?.['arguments'] } : {}) };
}

/**
 * The contexts of one inbound MCP message (a result, an error, or a server → client request or
 * notification on the stream): `mcpInbound`, and for the answer to a `tools/call` also
 * `toolCallResult`.
 */
export function mcpResponseContexts(base: DecisionContext, server: string, msg: JsonRpcMessage, calls: ReadonlyMap<JsonRpcId, McpCallRecord>, sideEffect: SideEffectLookup | undefined): DecisionContext[] {
  const call = msg.method === undefined && msg.id !== undefined ? calls.get(msg.id) : undefined;
  const method = msg.method ?? call?.method;
  const mcp = { server, direction: 'inbound' as const, ...(method !== undefined ? { method } : {}) };
  const inbound: DecisionContext = { ...base, hook: 'mcpInbound', mcp, payload: msg };
  if (call?.tool === undefined) return [inbound];
  const effect = sideEffect?.(server, call.tool);
  const tool = { server, name: call.tool, ...(call.arguments !== undefined ? { arguments: call.arguments } : {}), ...(effect !== undefined ? { sideEffect: effect } : {}) };
  return [{ ...base, hook: 'toolCallResult', tool, mcp, payload: msg }, { ...inbound, tool }];
}

/** A tool as `tools/list` announces it. */
export interface ListedTool {
  readonly name: string;
  readonly description: string;
  readonly inputSchema: unknown;
  readonly annotations?: ToolAnnotations;
}

/** The tools of a `tools/list` result; malformed entries are skipped. */
export function listedTools(result: unknown): ListedTool[] {
  const tools = record(result)?.['tools'];
  if (!Array.isArray(tools)) return [];
  const out: ListedTool[] = [];
  for (const t of tools) {
    const r = record(t);
    if (r === undefined || typeof r['name'] !== 'string') continue;
    const ann = record(r['annotations']);
    out.push({
      name: r['name'],
      description: typeof r['description'] === 'string' ? r['description'] : '',
      inputSchema: r['inputSchema'] ?? null,
      ...(ann !== undefined
        ? {
            annotations: {
              ...(typeof ann['readOnlyHint'] === 'boolean' ? { readOnlyHint: ann['readOnlyHint'] } : {}),
              ...(typeof ann['destructiveHint'] === 'boolean' ? { destructiveHint: ann['destructiveHint'] } : {}),
              ...(typeof ann['openWorldHint'] === 'boolean' ? { openWorldHint: ann['openWorldHint'] } : {}),
            },
          }
        : {}),
    });
  }
  return out;
}
