/** JSON-RPC 2.0 messages (MCP and A2A both speak it), parsed from untrusted JSON. Pure. */

export type JsonRpcId = string | number | null;

export interface JsonRpcMessage {
  readonly jsonrpc?: unknown;
  readonly id?: JsonRpcId;
  readonly method?: string;
  readonly params?: unknown;
  readonly result?: unknown;
  readonly error?: unknown;
}

export interface JsonRpcBody {
  readonly messages: readonly JsonRpcMessage[];
  /** The body was a JSON array (a batch): answers must be arrays too. */
  readonly batch: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One JSON-RPC message (request, notification, result or error), or undefined. */
export function asJsonRpc(v: unknown): JsonRpcMessage | undefined {
  if (!isRecord(v) || v['jsonrpc'] !== '2.0') return undefined;
  const id = v['id'];
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') return undefined;
  if (v['method'] !== undefined && typeof v['method'] !== 'string') return undefined;
  return v as JsonRpcMessage;
}

/** A JSON-RPC body: one message or a non-empty batch of them; undefined when it is not one. */
export function parseJsonRpcBody(value: unknown): JsonRpcBody | undefined {
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    const messages: JsonRpcMessage[] = [];
    for (const v of value) {
      const m = asJsonRpc(v);
      if (m === undefined) return undefined;
      messages.push(m);
    }
    return { messages, batch: true };
  }
  const m = asJsonRpc(value);
  return m === undefined ? undefined : { messages: [m], batch: false };
}

/** A JSON-RPC error answer to `id` (-32001: a server-defined error, as MCP gateways use for policy refusals). */
export function jsonRpcError(id: JsonRpcId | undefined, message: string, data: Record<string, unknown>, code = -32001): Record<string, unknown> {
  return { jsonrpc: '2.0', id: id ?? null, error: { code, message, data } };
}

export function record(v: unknown): Record<string, unknown> | undefined {
  return isRecord(v) ? v : undefined;
}
