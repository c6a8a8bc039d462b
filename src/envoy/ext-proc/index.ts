import { extensionsFromHeaders, identityFromExtensions, type AgentIdentity } from '../../context/identity.js';
import type { SideEffectLookup } from '../../context/mcp.js';
import type { DecisionContext } from '../../context/types.js';
import type { Decision } from '../../policy/decision.js';
import { FINDINGS_HEADER } from '../../policy/findings.js';
import type { Authorizer } from '../authorization.js';
import { GatewayInspector } from './gateway-inspector.js';
import type { StreamFactory } from './grpc.js';
import { McpPinRegistry, MemoryPinStore, type McpPins } from '../../context/mcp-pins.js';
import type { ProcessingMode } from './messages.js';
import { ProcessStream } from './process-stream.js';

export { PROCESS_PATH, registerExtProc, type StreamFactory } from './grpc.js';
export { ProcessStream, type BodyInspector, type ProcessResult, type ProcessStreamOptions } from './process-stream.js';
export { GatewayInspector } from './gateway-inspector.js';
export { McpPinRegistry, MemoryPinStore, acceptPending, reviewPending, type McpPins, type PinStore, type PinnedList } from '../../context/mcp-pins.js';
export { SHIPPED_MODE, ENVOY_DEFAULT_MODE, type ProcessingMode, type ProcessingRequestMessage, type ProcessingResponseMessage } from './messages.js';

export interface ExtProcOptions {
  /** The ext_proc filter's processing_mode in our Envoy configs (default SHIPPED_MODE). */
  readonly mode?: ProcessingMode;
  /** The filter's allow_mode_override (true in the configs we ship). */
  readonly allowModeOverride?: boolean;
  readonly maxBodyBytes?: number;
  readonly sideEffects?: SideEffectLookup;
  /** MCP tools/list pinning; default: pins held in memory for the life of the process. */
  readonly pins?: McpPins;
  readonly onDecision?: (d: Decision, ctx: DecisionContext, seconds: number) => void;
  /** Called when a stream is refused for a protocol or internal failure (the ImmediateResponse's details), or a request body carries a managed secret (`secret-exfiltration`). */
  readonly onFailure?: (details: string) => void;
  /** Longest wait for a one-shot grant lookup on a denial (default 1 s); then denied, fail closed. */
  readonly grantLookupTimeoutMs?: number;
}

/**
 * gRPC initial metadata naming the agent, for ext_proc (which has no context_extensions): the
 * filter's `grpc_service.initial_metadata` entries `x-joch-identity-<key>`, with the keys of
 * the ext_authz context extensions (tenant, namespace, environment, agent, agent-id,
 * framework, label.<key>).
 */
export function identityFromMetadata(md: Readonly<Record<string, string>>): AgentIdentity {
  return identityFromExtensions(extensionsFromHeaders(md));
}

/** The gateway's streams: a ProcessStream per call, deciding bodies with the policy engine. */
export function gatewayStreams(authorizer: Authorizer, o: ExtProcOptions = {}): StreamFactory {
  const pins = o.pins ?? new McpPinRegistry(new MemoryPinStore());
  const deps = { authorizer, pins, ...(o.sideEffects ? { sideEffects: o.sideEffects } : {}), ...(o.onDecision ? { onDecision: o.onDecision } : {}), ...(o.onFailure ? { onFailure: o.onFailure } : {}), ...(o.grantLookupTimeoutMs !== undefined ? { grantLookupTimeoutMs: o.grantLookupTimeoutMs } : {}) };
  return (md) =>
    new ProcessStream({
      inspector: new GatewayInspector(deps, identityFromMetadata(md)),
      allowModeOverride: o.allowModeOverride ?? true,
      ownedHeaders: [FINDINGS_HEADER],
      ...(o.onFailure !== undefined ? { onFailure: o.onFailure } : {}),
      ...(o.mode !== undefined ? { mode: o.mode } : {}),
      ...(o.maxBodyBytes !== undefined ? { maxBodyBytes: o.maxBodyBytes } : {}),
    });
}
