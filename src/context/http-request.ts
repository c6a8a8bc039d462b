import type { AgentIdentity } from './identity.js';
import { normalizeContext } from './normalize.js';
import { modelFromPath, type ProviderMatcher } from './providers.js';
import type { DecisionContext } from './types.js';

/** What an edge knows about one outbound HTTP request (Envoy ext_authz, the HTTP authz mode). */
export interface HttpRequestInfo {
  readonly method: string;
  /** Path with query string. */
  readonly path: string;
  /** `:authority` (or Host): may carry a port. */
  readonly authority: string;
  readonly scheme?: string;
  /** Lower-case names; repeated headers joined with ','. */
  readonly headers: Readonly<Record<string, string>>;
  /** The original destination address, when it is the real upstream (not a proxy's own address). */
  readonly destinationAddress?: string;
  readonly destinationPort?: number;
  readonly sni?: string;
  readonly body?: string;
}

/**
 * Builds the decision context of an outbound HTTP call and classifies it:
 * - MCP (streamable HTTP): an `mcp-protocol-version` or `mcp-session-id` header, a POST that
 *   accepts both JSON and SSE (as the MCP spec requires of clients), or a path ending in
 *   `/mcp` → `mcpOutbound` with `mcp.server` = the host;
 * - a model provider's API host → `message` with `model.provider` (and `model.name` where
 *   the URL names it);
 * - anything else → `egress`.
 * Bodies, when present, become the payload (parsed when JSON).
 */
export function contextFromHttpRequest(req: HttpRequestInfo, identity: AgentIdentity, providers: ProviderMatcher): DecisionContext {
  const ctx: DecisionContext = normalizeContext({
    hook: 'egress',
    ...identity,
    destination: {
      host: req.authority,
      ...(req.destinationPort !== undefined ? { port: req.destinationPort } : {}),
      ...(req.scheme !== undefined ? { scheme: req.scheme } : {}),
      ...(req.sni !== undefined ? { sni: req.sni } : {}),
      ...(req.destinationAddress !== undefined ? { address: req.destinationAddress } : {}),
    },
    request: { method: req.method, path: req.path, headers: req.headers },
  });
  if (ctx.destination?.port === undefined && ctx.destination) ctx.destination.port = req.scheme === 'http' ? 80 : 443;
  const host = ctx.destination?.host ?? '';
  if (isMcp(req)) {
    ctx.hook = 'mcpOutbound';
    ctx.mcp = { server: host, direction: 'outbound' };
  } else {
    const provider = providers(host);
    if (provider !== undefined) {
      ctx.hook = 'message';
      const name = modelFromPath(provider, req.path);
      ctx.model = { provider, ...(name !== undefined ? { name } : {}) };
    }
  }
  if (req.body !== undefined && req.body !== '') ctx.payload = parseBody(req.body, req.headers['content-type']);
  return ctx;
}

function isMcp(req: HttpRequestInfo): boolean {
  const h = req.headers;
  if (h['mcp-protocol-version'] !== undefined || h['mcp-session-id'] !== undefined) return true;
  const accept = h.accept ?? '';
  if (req.method === 'POST' && accept.includes('text/event-stream') && accept.includes('application/json')) return true;
  return /\/mcp\/?$/.test(req.path.split('?')[0] ?? '');
}

function parseBody(body: string, contentType: string | undefined): unknown {
  if (contentType !== undefined && /\bjson\b/i.test(contentType)) {
    try {
      return JSON.parse(body) as unknown;
    } catch {
      return body; // scanned as text; a broken JSON body is still data under decision
    }
  }
  return body;
}
