/**
 * The decision context: what the policy engine decides on. Field names follow the OWASP AOS
 * hook contract where it has them. Its JSON Schema is `decision-context.schema.json` beside
 * this file; `validateContext` checks untrusted input against it.
 */

/** The gateway kinds of the Policy Engine seed (names as in OWASP AOS where it has them). */
export const HOOKS = [
  'toolCallRequest',
  'toolCallResult',
  'mcpOutbound',
  'mcpInbound',
  'message',
  'agentTrigger',
  'memoryContextRetrieval',
  'memoryStore',
  'knowledgeRetrieval',
  'a2a',
  'egress',
] as const;

export type Hook = (typeof HOOKS)[number];

export interface AgentRef {
  id?: string;
  name?: string;
  framework?: string;
  labels?: Record<string, string>;
}

export interface DecisionContext {
  hook: Hook;
  tenant?: string;
  namespace?: string;
  environment?: string;
  agent?: AgentRef;
  session?: { id?: string };
  turnId?: string;
  stepId?: string;
  destination?: { host?: string; port?: number; scheme?: string; sni?: string; address?: string };
  request?: { method?: string; path?: string; headers?: Record<string, string> };
  tool?: { name?: string; server?: string; sideEffect?: string; arguments?: unknown };
  model?: {
    provider?: string;
    name?: string;
    /** Token usage a response reports. */
    usage?: { inputTokens?: number; outputTokens?: number; totalTokens?: number };
    /** Tool calls the model asks the agent to make. */
    toolCalls?: { name: string; arguments?: unknown }[];
  };
  mcp?: {
    server?: string;
    method?: string;
    direction?: 'outbound' | 'inbound';
    /** Set on a `tools/list` answer that differs from the pinned list: the worst change found. */
    toolDrift?: 'changed' | 'new' | 'collision';
  };
  a2a?: { peer?: string; method?: string; direction?: 'outbound' | 'inbound'; taskId?: string; contextId?: string };
  payload?: unknown;
  cost?: { runUsd?: number; dayUsd?: number };
}
