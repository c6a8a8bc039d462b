import { randomUUID } from 'node:crypto';
import { contextFromHttpRequest, type HttpRequestInfo } from '../context/http-request.js';
import { resolveIdentity } from '../context/identity.js';
import { normalizeContext } from '../context/normalize.js';
import type { ProviderMatcher } from '../context/providers.js';
import type { DecisionRecorder } from '../audit/recorder.js';
import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import type { Engine } from '../policy/engine.js';
import { parseCheckRequest, type CheckRequestMessage } from './check-request.js';
import { httpCheckResponse, networkCheckResponse, type CheckResponseMessage } from './check-response.js';

/** What one authorization produced: the answer for Envoy and what metrics and logs need. */
export interface AuthzResult<T> {
  readonly response: T;
  readonly decision: Decision;
  /** Set when the request could not be decided on its merits (bad input, internal error). */
  readonly failure?: 'malformed' | 'identity' | 'internal' | 'unsupported';
  /** The context decided on (absent when the request could not be turned into one), for audit. */
  readonly context?: DecisionContext;
}

export interface Authorizer {
  /** The engine in force; swapped on policy reload. */
  engine(): Engine;
  readonly providers: ProviderMatcher;
  /** Audit of every decision (non-blocking); absent: not recorded. */
  readonly recorder?: DecisionRecorder;
}

/** A deny produced by the edge itself (no policy decided it), always with its own decision id. */
export function edgeDeny(reason: string, message: string, policyVersion: string, status = 403): Decision {
  return { decision: 'deny', reason, message, policyId: null, policyNamespace: null, policyVersion, ruleId: null, decisionId: randomUUID(), matched: [], status };
}

/**
 * Decides one HTTP request. The decision can ask to change the payload only where the edge
 * can apply that (ext_proc); ext_authz cannot replace a body, so such a decision becomes a
 * deny rather than letting unredacted data through.
 */
export function authorizeHttp(a: Authorizer, req: HttpRequestInfo, extensions: Record<string, string> | undefined, principal: string | undefined): AuthzResult<Decision> {
  const engine = a.engine();
  const identity = resolveIdentity(extensions, principal);
  if ('error' in identity) {
    const d = edgeDeny('identity-mismatch', identity.error, engine.policies.version);
    return { response: d, decision: d, failure: 'identity' };
  }
  const context = contextFromHttpRequest(req, identity, a.providers);
  const d = engine.evaluate(context);
  if (d.decision === 'modify' && d.modifiedRequest?.payload !== undefined) {
    const deny = edgeDeny('body-modification-unsupported', 'a policy changes this request body, which ext_authz cannot do; send bodies through ext_proc', engine.policies.version);
    return { response: deny, decision: deny, failure: 'unsupported', context };
  }
  return { response: d, decision: d, context };
}

/** A Check whose bytes are not a CheckRequest at all: a deny naming why, for the HTTP filter's shape. */
export function checkUndecodable(a: Authorizer, err: unknown): ReturnType<typeof check> {
  const d = edgeDeny('malformed-check-request', `the CheckRequest could not be decoded: ${err instanceof Error ? err.message : String(err)}`, a.engine().policies.version);
  return { response: httpCheckResponse(d), decision: d, failure: 'malformed', edge: 'authz_http' };
}

/** The ext_authz gRPC Check: never throws, never leaves a call unanswered; errors deny. */
export function check(a: Authorizer, msg: CheckRequestMessage | undefined): AuthzResult<CheckResponseMessage> & { edge: 'authz_http' | 'authz_network' } {
  let edge: 'authz_http' | 'authz_network' = 'authz_http';
  try {
    const parsed = parseCheckRequest(msg);
    if (parsed.kind === 'malformed') {
      const d = edgeDeny('malformed-check-request', parsed.why, a.engine().policies.version);
      return { response: httpCheckResponse(d), decision: d, failure: 'malformed', edge };
    }
    if (parsed.kind === 'http') {
      const r = authorizeHttp(a, parsed.request, parsed.extensions, parsed.principal);
      return { ...r, response: httpCheckResponse(r.response), edge };
    }
    edge = 'authz_network';
    const engine = a.engine();
    const identity = resolveIdentity(parsed.extensions, parsed.principal);
    if ('error' in identity) {
      const d = edgeDeny('identity-mismatch', identity.error, engine.policies.version);
      return { response: networkCheckResponse(d), decision: d, failure: 'identity', edge };
    }
    const ctx: DecisionContext = normalizeContext({
      hook: 'egress',
      ...identity,
      destination: {
        ...(parsed.sni !== undefined ? { sni: parsed.sni } : {}),
        ...(parsed.address !== undefined ? { address: parsed.address } : {}),
        ...(parsed.port !== undefined ? { port: parsed.port } : {}),
      },
    });
    const d = engine.evaluate(ctx);
    return { response: networkCheckResponse(d), decision: d, edge, context: ctx };
  } catch {
    const d = edgeDeny('internal-error', 'the gateway failed to decide; denied (fail closed)', a.engine().policies.version);
    return { response: edge === 'authz_http' ? httpCheckResponse(d) : networkCheckResponse(d), decision: d, failure: 'internal', edge };
  }
}
