import { randomUUID } from 'node:crypto';
import { contextFromHttpRequest, type HttpRequestInfo } from '../context/http-request.js';
import { resolveIdentity } from '../context/identity.js';
import { normalizeContext } from '../context/normalize.js';
import type { ProviderMatcher } from '../context/providers.js';
import type { DecisionRecorder } from '../audit/recorder.js';
import type { DecisionContext } from '../context/types.js';
import type { Decision } from '../policy/decision.js';
import type { Engine } from '../policy/engine.js';
import type { SecretInjection } from '../policy/types.js';
import { parseCheckRequest, type CheckRequestMessage } from './check-request.js';
import type { SecretAccess } from '../secrets/broker.js';
import { carriesSecret, injectCold, injectWarm, type InjectedHeader } from '../secrets/inject.js';
import { httpCheckResponse, networkCheckResponse, type CheckResponseMessage } from './check-response.js';

/** What one authorization produced: the answer for Envoy and what metrics and logs need. */
export interface AuthzResult<T> {
  readonly response: T;
  readonly decision: Decision;
  /** Set when the request could not be decided on its merits (bad input, internal error), or carried a managed secret. */
  readonly failure?: 'malformed' | 'identity' | 'internal' | 'unsupported' | 'secret-unavailable' | 'secret-exfiltration';
  /** The context decided on (absent when the request could not be turned into one), for audit. */
  readonly context?: DecisionContext;
  /** Headers set from Secrets: for the outbound request only, never for logs or the agent. */
  readonly injected?: readonly InjectedHeader[];
}

export interface Authorizer {
  /** The engine in force; swapped on policy reload. */
  engine(): Engine;
  readonly providers: ProviderMatcher;
  /** Audit of every decision (non-blocking); absent: not recorded. */
  readonly recorder?: DecisionRecorder;
  /** The secret broker, for `inject` outcomes and the exfiltration guard; absent: no Secrets loaded. */
  readonly secrets?: SecretAccess;
  /**
   * One-shot approvals and break-glass overrides, asked about denials only (an allow never
   * waits for it): a promise (never rejecting) when it consults the store; absent: none.
   */
  readonly grants?: { review(ctx: DecisionContext, d: Decision): Decision | Promise<Decision> };
}

/** Why a request carrying a managed secret is denied; which value, and where, stays unsaid. */
export const EXFILTRATION_MESSAGE = 'the request carries a credential that the gateway manages; agents never hold those, so it is denied';

/** A deny produced by the edge itself (no policy decided it), always with its own decision id. */
export function edgeDeny(reason: string, message: string, policyVersion: string, status = 403): Decision {
  return { decision: 'deny', reason, message, policyId: null, policyNamespace: null, policyVersion, ruleId: null, decisionId: randomUUID(), matched: [], status };
}

/**
 * Decides one HTTP request. The decision can ask to change the payload only where the edge
 * can apply that (ext_proc); ext_authz cannot replace a body, so such a decision becomes a
 * deny rather than letting unredacted data through.
 *
 * Secrets: a request that already carries a value the gateway injects (exact, base64 or
 * URL-encoded) is denied (`secret-exfiltration`) before any policy runs. An `inject` outcome
 * is answered synchronously from the broker's cache when every Secret it needs is warm;
 * otherwise the answer is a promise that fetches them, or denies (`secret-unavailable`).
 */
export function authorizeHttp(
  a: Authorizer,
  req: HttpRequestInfo,
  extensions: Record<string, string> | undefined,
  principal: string | undefined,
): AuthzResult<Decision> | Promise<AuthzResult<Decision>> {
  const engine = a.engine();
  const identity = resolveIdentity(extensions, principal);
  if ('error' in identity) {
    const d = edgeDeny('identity-mismatch', identity.error, engine.policies.version);
    return { response: d, decision: d, failure: 'identity' };
  }
  const secrets = a.secrets;
  if (secrets !== undefined && carriesSecret(secrets.known, req.headers, req.body)) {
    // Which value, and where, stays unsaid: the message reaches the agent and the logs.
    const d = edgeDeny('secret-exfiltration', EXFILTRATION_MESSAGE, engine.policies.version);
    return { response: d, decision: d, failure: 'secret-exfiltration' };
  }
  const context = contextFromHttpRequest(req, identity, a.providers);
  const d = engine.evaluate(context);
  const reviewed = d.decision === 'deny' ? a.grants?.review(context, d) : undefined;
  // A denial let through once (approval, override) is applied like any other decision: its
  // header changes and injected secrets included, a body change refused.
  if (reviewed instanceof Promise) return reviewed.then((r) => applyDecision(a, engine, context, r));
  return applyDecision(a, engine, context, reviewed ?? d);
}

/** The edge's part of an HTTP decision: ext_authz cannot change a body; `inject` fetches Secrets. */
function applyDecision(a: Authorizer, engine: Engine, context: DecisionContext, d: Decision): AuthzResult<Decision> | Promise<AuthzResult<Decision>> {
  const secrets = a.secrets;
  if (d.decision === 'deny') return { response: d, decision: d, context };
  if (d.decision === 'modify' && d.modifiedRequest?.payload !== undefined) {
    const deny = edgeDeny('body-modification-unsupported', 'a policy changes this request body, which ext_authz cannot do; send bodies through ext_proc', engine.policies.version);
    return { response: deny, decision: deny, failure: 'unsupported', context };
  }
  const injections = d.modifiedRequest?.inject;
  if (injections === undefined) return { response: d, decision: d, context };
  if (secrets === undefined) return { ...secretUnavailable(injections, engine), context };
  const warm = injectWarm(secrets, injections);
  if (warm !== undefined) return { response: d, decision: d, context, injected: warm };
  return injectCold(secrets, injections).then(
    (injected) => ({ response: d, decision: d, context, injected }),
    () => ({ ...secretUnavailable(injections, engine), context }),
  );
}

/** Fail closed, naming the Secrets (never a value); the provider's error is logged by the broker. */
function secretUnavailable(injections: readonly SecretInjection[], engine: Engine): AuthzResult<Decision> {
  const names = injections.map((i) => `"${i.secret}"`).join(', ');
  const deny = edgeDeny('secret-unavailable', `the secret this call needs (${names}) is unavailable; denied (fail closed)`, engine.policies.version, 503);
  return { response: deny, decision: deny, failure: 'secret-unavailable' };
}

export type CheckResult = AuthzResult<CheckResponseMessage> & { edge: 'authz_http' | 'authz_network' };

/** A Check whose bytes are not a CheckRequest at all: a deny naming why, for the HTTP filter's shape. */
export function checkUndecodable(a: Authorizer, err: unknown): CheckResult {
  const d = edgeDeny('malformed-check-request', `the CheckRequest could not be decoded: ${err instanceof Error ? err.message : String(err)}`, a.engine().policies.version);
  return { response: httpCheckResponse(d), decision: d, failure: 'malformed', edge: 'authz_http' };
}

function internalError(a: Authorizer, edge: CheckResult['edge']): CheckResult {
  const d = edgeDeny('internal-error', 'the gateway failed to decide; denied (fail closed)', a.engine().policies.version);
  return { response: edge === 'authz_http' ? httpCheckResponse(d) : networkCheckResponse(d), decision: d, failure: 'internal', edge };
}

function httpResult(r: AuthzResult<Decision>): CheckResult {
  const out: CheckResult = { response: httpCheckResponse(r.response, r.injected), decision: r.decision, edge: 'authz_http', ...(r.context !== undefined ? { context: r.context } : {}) };
  return r.failure === undefined ? out : { ...out, failure: r.failure };
}

/**
 * The ext_authz gRPC Check: never throws, never leaves a call unanswered; errors deny.
 * Synchronous unless a Secret to inject is not in the cache yet (then a promise that never rejects).
 */
export function check(a: Authorizer, msg: CheckRequestMessage | undefined): CheckResult | Promise<CheckResult> {
  let edge: 'authz_http' | 'authz_network' = 'authz_http';
  try {
    const parsed = parseCheckRequest(msg);
    if (parsed.kind === 'malformed') {
      const d = edgeDeny('malformed-check-request', parsed.why, a.engine().policies.version);
      return { response: httpCheckResponse(d), decision: d, failure: 'malformed', edge };
    }
    if (parsed.kind === 'http') {
      const r = authorizeHttp(a, parsed.request, parsed.extensions, parsed.principal);
      return r instanceof Promise ? r.then(httpResult, () => internalError(a, 'authz_http')) : httpResult(r);
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
    const reviewed = d.decision === 'deny' ? a.grants?.review(ctx, d) : undefined;
    if (reviewed instanceof Promise) return reviewed.then((r): CheckResult => ({ response: networkCheckResponse(r), decision: r, edge: 'authz_network', context: ctx }), () => internalError(a, 'authz_network'));
    const r = reviewed ?? d; // a review that answers at once: the store is down (fail closed, saying so)
    return { response: networkCheckResponse(r), decision: r, edge, context: ctx };
  } catch {
    return internalError(a, edge);
  }
}
