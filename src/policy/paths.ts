import type { EvalState } from './eval-state.js';
import { intern } from './intern.js';
import { isLabelKey } from './labels.js';

/**
 * What a condition path holds, which decides how its matchers compile:
 * `host` and `path` values get host/path glob semantics, `method` compares upper case, `number` values take comparisons,
 * `classes` is the set `data.contains` tests, `hook` only takes hook names.
 */
export type ValueKind = 'string' | 'host' | 'path' | 'method' | 'number' | 'classes' | 'hook';

export interface PathDef {
  readonly path: string;
  readonly kind: ValueKind;
  readonly get: (s: EvalState) => unknown;
  readonly description: string;
}

type Getter = PathDef['get'];

function def(path: string, kind: ValueKind, get: Getter, description: string): PathDef {
  return { path, kind, get, description };
}

/** Every fixed condition path. `agent.labels.<key>` and `request.headers.<name>` are resolved by prefix. */
export const PATHS: ReadonlyMap<string, PathDef> = new Map(
  [
    def('hook', 'hook', (s) => s.ctx.hook, 'the gateway hook (toolCallRequest, message, egress, ...)'),
    def('tenant', 'string', (s) => s.ctx.tenant, 'tenant that owns the agent'),
    def('namespace', 'string', (s) => s.ctx.namespace, 'namespace (team) that owns the agent'),
    def('environment', 'string', (s) => s.ctx.environment, 'promotion environment, e.g. prod'),
    def('agent.id', 'string', (s) => s.ctx.agent?.id, 'agent id'),
    def('agent.name', 'string', (s) => s.ctx.agent?.name, 'agent name'),
    def('agent.framework', 'string', (s) => s.ctx.agent?.framework, 'agent SDK or framework'),
    def('session.id', 'string', (s) => s.ctx.session?.id, 'session id'),
    def('turnId', 'string', (s) => s.ctx.turnId, 'AOS turn id'),
    def('stepId', 'string', (s) => s.ctx.stepId, 'AOS step id'),
    def('tool.name', 'string', (s) => s.ctx.tool?.name, 'tool name'),
    def('tool.server', 'host', (s) => s.ctx.tool?.server, 'server that hosts the tool'),
    def('tool.sideEffect', 'string', (s) => s.ctx.tool?.sideEffect, 'declared side effect, e.g. external_write'),
    def('mcp.server', 'host', (s) => s.ctx.mcp?.server, 'MCP server'),
    def('mcp.method', 'string', (s) => s.ctx.mcp?.method, 'MCP JSON-RPC method, e.g. tools/call'),
    def('mcp.direction', 'string', (s) => s.ctx.mcp?.direction, 'outbound or inbound'),
    def('mcp.toolDrift', 'string', (s) => s.ctx.mcp?.toolDrift, 'tools/list differs from the pinned list: changed, new or collision'),
    def('a2a.method', 'string', (s) => s.ctx.a2a?.method, 'A2A JSON-RPC method, e.g. message/send'),
    def('model.provider', 'string', (s) => s.ctx.model?.provider, 'model provider, e.g. openai'),
    def('model.name', 'string', (s) => s.ctx.model?.name, 'model name, e.g. gpt-4o'),
    def('destination.host', 'host', (s) => s.ctx.destination?.host, 'destination host (normalised)'),
    def('destination.port', 'number', (s) => s.ctx.destination?.port, 'destination port'),
    def('destination.scheme', 'string', (s) => s.ctx.destination?.scheme, 'http or https'),
    def('destination.sni', 'host', (s) => s.ctx.destination?.sni, 'TLS server name'),
    def('request.method', 'method', (s) => s.ctx.request?.method, 'HTTP method (upper case)'),
    def('request.path', 'path', (s) => s.ctx.request?.path, 'HTTP path with query string'),
    def('data.contains', 'classes', (s) => s.dataClasses(), 'classes found in the payload: pii, secret, injection'),
    def('cost.runUsd', 'number', (s) => s.ctx.cost?.runUsd, 'cost of this run so far, USD'),
    def('cost.dayUsd', 'number', (s) => s.ctx.cost?.dayUsd, 'cost today, USD'),
  ].map((d) => [d.path, d]),
);

const LABEL_PREFIX = 'agent.labels.';
const HEADER_PREFIX = 'request.headers.';

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

export type PathResolution = { ok: true; def: PathDef } | { ok: false; message: string; suggestion?: string };

export function resolvePath(path: string): PathResolution {
  const fixed = PATHS.get(path);
  if (fixed) return { ok: true, def: fixed };
  if (path.startsWith(LABEL_PREFIX)) {
    const key = intern(path.slice(LABEL_PREFIX.length));
    if (!isLabelKey(key)) return { ok: false, message: `"${key}" is not a valid label key` };
    return { ok: true, def: def(path, 'string', (s) => ownString(s.ctx.agent?.labels, key), `agent label ${key}`) };
  }
  if (path.startsWith(HEADER_PREFIX)) {
    const name = intern(path.slice(HEADER_PREFIX.length));
    if (!HEADER_NAME.test(name)) {
      return { ok: false, message: `"${name}" is not a valid header name (header names in conditions are lower case)` };
    }
    return { ok: true, def: def(path, 'string', (s) => ownString(s.ctx.request?.headers, name), `request header ${name}`) };
  }
  return { ok: false, message: `unknown condition path "${path}"` };
}

export function knownPathNames(): string[] {
  return [...PATHS.keys(), `${LABEL_PREFIX}<key>`, `${HEADER_PREFIX}<name>`];
}

/** Reads a string value; nothing on Object.prototype is a string, so `constructor` is never found. */
function ownString(obj: Record<string, string> | undefined, key: string): string | undefined {
  if (obj === undefined) return undefined;
  const v: unknown = obj[key];
  return typeof v === 'string' ? v : undefined;
}
