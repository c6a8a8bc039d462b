import { a2aContext, isA2aMethod } from '../../context/a2a.js';
import { contextFromHttpRequest, type HttpRequestInfo } from '../../context/http-request.js';
import type { AgentIdentity } from '../../context/identity.js';
import { jsonRpcError, parseJsonRpcBody, type JsonRpcBody, type JsonRpcId, type JsonRpcMessage } from '../../context/jsonrpc.js';
import { isMcpMethod, listedTools, mcpCallRecord, mcpRequestContexts, mcpResponseContexts, type McpCallRecord, type SideEffectLookup } from '../../context/mcp.js';
import { modelApi, providerError, providerErrorEvent, readModelOutput, requestModel, type ModelApi } from '../../context/model-apis.js';
import { formatSseEvent, isEventStream, parseSseEvent, splitSseEvents, type SseEvent } from '../../context/sse.js';
import type { DecisionContext } from '../../context/types.js';
import type { Decision, FindingSummary } from '../../policy/decision.js';
import { FINDINGS_HEADER, findingsHeaderValue, mergeSameData, mergeSeparateData } from '../../policy/findings.js';
import { coveredByPass, storeDown } from '../../overrides/grants.js';
import { edgeDeny, EXFILTRATION_MESSAGE, type Authorizer } from '../authorization.js';
import { DECISION_HEADER, denialBody } from '../check-response.js';
import type { HeaderChanges } from './headers.js';
import type { McpPins } from '../../context/mcp-pins.js';
import type { BodyInspector, BodyVerdict, Direction, EventVerdict, Exchange, LocalReply } from './process-stream.js';

/**
 * The gateway's side of an ext_proc stream: turns bodies into decision contexts (MCP, model
 * APIs, A2A, plain HTTP), asks the policy engine, and shapes each outcome the way the caller
 * understands it: a JSON-RPC error with the same id for MCP and A2A, the provider's own error
 * shape for model APIs, a redacted body that is still valid JSON (or SSE) for a modify.
 * One instance per stream: it remembers what the request asked to read the answer.
 *
 * A body's denial by a policy rule goes to the authorizer's one-shot grants (as on ext_authz):
 * it leaves a ticket, and a pass waiting for the same request turns it into an allow. Only then
 * is the verdict a promise; allows, and bodies without grants, are decided synchronously.
 * Events of a streamed event-stream answer are decided one by one, synchronously, unreviewed.
 */

export interface InspectorDeps {
  readonly authorizer: Authorizer;
  /** Declared tool side effects (a registry); MCP annotations are used where it says nothing. */
  readonly sideEffects?: SideEffectLookup;
  /** MCP tools/list pinning; without it, tool lists are not compared. */
  readonly pins?: McpPins;
  /** Called with every decision made and the seconds it took (for metrics and logs). */
  readonly onDecision?: (d: Decision, ctx: DecisionContext, seconds: number) => void;
  /** Told when a body is refused before any policy ran (`secret-exfiltration`), for the error metric. */
  readonly onFailure?: (reason: string) => void;
  /**
   * Longest wait for a grant lookup (default GRANT_LOOKUP_TIMEOUT_MS); then the denial stands,
   * fail closed. Envoy stops waiting after its message_timeout anyway; this bounds what a
   * cancelled stream keeps while the store does not answer.
   */
  readonly grantLookupTimeoutMs?: number;
}

export const GRANT_LOOKUP_TIMEOUT_MS = 1000;

type Kind = 'mcp' | 'a2a' | 'model' | 'plain';

/** What annotate rules found in a payload, and the first decision that says so (for the audit). */
interface Annotation {
  readonly types: readonly FindingSummary[];
  readonly decisionId: string;
}

/** The outcome of a chain of contexts over one payload. */
type Outcome =
  | { kind: 'deny'; decision: Decision }
  | { kind: 'pass'; decision: Decision | undefined; payload: unknown; changed: boolean; headers?: HeaderChanges; found?: Annotation; passes?: readonly Decision[] };

/** What a chain has gathered so far; it outlives a pause for a grant lookup. */
interface ChainState {
  payload: unknown;
  changed: boolean;
  first: Decision | undefined;
  headers: { set: Record<string, string>; remove: string[] } | undefined;
  found: Annotation | undefined;
  /** Passes in force: used in this chain, or by the request this payload answers (one call, one pass). */
  readonly passes: Decision[];
}

type Maybe<T> = T | Promise<T>;

function then<T, U>(v: Maybe<T>, f: (t: T) => Maybe<U>): Maybe<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

const JSON_HEADERS = { 'content-type': 'application/json' };

export class GatewayInspector implements BodyInspector {
  private base: DecisionContext | undefined;
  private kind: Kind | undefined;
  private api: ModelApi | undefined;
  private modelName: string | undefined;
  private readonly calls = new Map<JsonRpcId, McpCallRecord>();
  /**
   * Passes a request used (by JSON-RPC id; a model call has one request): they cover its
   * answer's denials by the same rule, so an approved call's result reaches the agent.
   */
  private readonly passes = new Map<JsonRpcId, readonly Decision[]>();
  private modelPasses: readonly Decision[] | undefined;

  constructor(
    private readonly deps: InspectorDeps,
    private readonly identity: AgentIdentity,
  ) {}

  body(dir: Direction, ex: Exchange, body: Buffer, complete: boolean): Maybe<BodyVerdict> {
    const base = this.baseContext(ex);
    const contentType = dir === 'request' ? ex.request['content-type'] : ex.response?.['content-type'];
    const text = body.toString('utf8');
    if (dir === 'response' && isEventStream(contentType)) return this.wholeEventStream(ex, text);
    const parsed = complete ? parseJson(text) : undefined;
    if (dir === 'request') this.classify(base, ex, parsed);
    else this.kind ??= this.kindFromHeaders(base, ex);
    const kind = this.kind ?? 'plain';
    // The request's headers hold what ext_authz injected, so only the body is checked here.
    if (dir === 'request' && this.deps.authorizer.secrets?.known.foundIn(text) === true) return this.exfiltration(base, kind, parsed);
    if (dir === 'response' && kind === 'plain') return { kind: 'continue' };
    if (parsed === undefined) return dir === 'request' ? this.plainBody(base, text, complete) : this.otherAnswer(base, text);
    if (kind === 'mcp' || kind === 'a2a') {
      const rpc = parseJsonRpcBody(parsed.value);
      if (rpc !== undefined) return this.rpcBody(dir, base, rpc);
    }
    if (kind === 'model') return this.modelBody(dir, base, parsed.value);
    if (dir === 'response') return this.otherAnswer(base, parsed.value);
    return this.plainBody(base, parsed.value, complete);
  }

  /** An answer that is not the protocol's own shape (an HTML error page, plain text): still inbound data. */
  private otherAnswer(base: DecisionContext, payload: unknown): Maybe<BodyVerdict> {
    const server = this.server(base);
    const ctx: DecisionContext =
      this.kind === 'mcp'
        ? { ...base, hook: 'mcpInbound', mcp: { server, direction: 'inbound' }, payload }
        : this.kind === 'a2a'
          ? { ...base, hook: 'a2a', a2a: { peer: server, direction: 'inbound' }, payload }
          : { ...base, hook: 'message', payload };
    return then(this.decideChain([ctx], true), (out) => this.otherAnswerVerdict(out));
  }

  private otherAnswerVerdict(out: Outcome): BodyVerdict {
    if (out.kind === 'deny') return deny(out.decision.status ?? 403, denialBody(out.decision), out.decision);
    const headers = annotated('response', out.changed ? out.decision : undefined, undefined, out.found);
    if (!out.changed) return headers !== undefined ? { kind: 'continue', headers } : { kind: 'continue' };
    const body = typeof out.payload === 'string' ? out.payload : JSON.stringify(out.payload);
    return { kind: 'replace', body: Buffer.from(body, 'utf8'), ...(headers !== undefined ? { headers } : {}) };
  }

  event(dir: Direction, ex: Exchange, text: string): EventVerdict {
    const base = this.baseContext(ex);
    if (dir === 'response') this.kind ??= this.kindFromHeaders(base, ex);
    if (dir === 'request' || this.kind === undefined || this.kind === 'plain') return { kind: 'keep' };
    const ev = parseSseEvent(text);
    if (ev === undefined || ev.data === '' || ev.data === '[DONE]') return { kind: 'keep' };
    const parsed = parseJson(ev.data);
    if (parsed === undefined) return { kind: 'keep' };
    if (this.kind === 'model') {
      const out = this.modelOutcome('response', base, parsed.value, false);
      if (out.kind === 'deny') return { kind: 'stop', text: providerErrorEvent(this.api, out.decision.message ?? 'denied by policy', out.decision.reason) };
      return annotatedEvent(out.changed ? formatSseEvent(withData(ev, out.payload)) : text, out.changed, out.found);
    }
    const rpc = parseJsonRpcBody(parsed.value);
    if (rpc === undefined) return { kind: 'keep' };
    const results = rpc.messages.map((m) => this.rpcOutcome('response', base, m, false));
    const denied = results.find((r) => r.kind === 'deny');
    if (denied !== undefined && denied.kind === 'deny') {
      const errors = rpc.messages.map((m) => rpcDenial(m, denied.decision));
      return { kind: 'stop', text: formatSseEvent(withData(ev, rpc.batch ? errors : errors[0])) };
    }
    const found = separateFindings(results);
    if (!results.some((r) => r.kind === 'pass' && r.changed)) return annotatedEvent(text, false, found);
    const payloads = results.map((r) => (r.kind === 'pass' ? r.payload : undefined));
    return annotatedEvent(formatSseEvent(withData(ev, rpc.batch ? payloads : payloads[0])), true, found);
  }

  /** The request's context without a payload, built once from the request headers. */
  private baseContext(ex: Exchange): DecisionContext {
    if (this.base !== undefined) return this.base;
    const h = ex.request;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) headers[k] = v;
    const info: HttpRequestInfo = {
      method: h[':method'] ?? 'GET',
      path: h[':path'] ?? '/',
      authority: h[':authority'] ?? h['host'] ?? '',
      ...(h[':scheme'] !== undefined ? { scheme: h[':scheme'] } : {}),
      headers,
    };
    const ctx = contextFromHttpRequest(info, this.identity, this.deps.authorizer.providers);
    const session = headers['mcp-session-id'];
    this.base = session !== undefined ? { ...ctx, session: { id: session } } : ctx;
    return this.base;
  }

  private classify(base: DecisionContext, ex: Exchange, parsed: { value: unknown } | undefined): void {
    const rpc = parsed === undefined ? undefined : parseJsonRpcBody(parsed.value);
    const methods = rpc?.messages.map((m) => m.method) ?? [];
    if (rpc !== undefined && (base.hook === 'mcpOutbound' || methods.some(isMcpMethod))) this.kind = 'mcp';
    else if (rpc !== undefined && methods.some(isA2aMethod)) this.kind = 'a2a';
    else {
      const path = ex.request[':path'] ?? '/';
      const api = modelApi(base.model?.provider, path);
      if (api !== undefined && (base.hook === 'message' || hasModelShape(parsed?.value))) {
        this.kind = 'model';
        this.api = api;
        this.modelName = requestModel(api, path, parsed?.value) ?? base.model?.name;
      } else this.kind = 'plain';
    }
  }

  /** For answers to requests without a body (an MCP GET stream, a model GET): what the headers said. */
  private kindFromHeaders(base: DecisionContext, ex: Exchange): Kind {
    if (base.hook === 'mcpOutbound') return 'mcp';
    const path = ex.request[':path'] ?? '/';
    const api = base.hook === 'message' ? modelApi(base.model?.provider, path) : undefined;
    if (api === undefined) return 'plain';
    this.api = api;
    this.modelName = requestModel(api, path, undefined) ?? base.model?.name;
    return 'model';
  }

  private server(base: DecisionContext): string {
    return base.mcp?.server ?? base.destination?.host ?? '';
  }

  private sideEffect(): SideEffectLookup {
    return (server, tool) => this.deps.sideEffects?.(server, tool) ?? this.deps.pins?.sideEffect(server, tool);
  }

  /**
   * A request body carrying a value the gateway injects (exactly, base64 or URL-encoded): denied
   * before any policy runs, shaped like the protocol's other denials, never naming the value.
   */
  private exfiltration(base: DecisionContext, kind: Kind, parsed: { value: unknown } | undefined): BodyVerdict {
    const d = edgeDeny('secret-exfiltration', EXFILTRATION_MESSAGE, this.deps.authorizer.engine().policies.version);
    this.deps.onDecision?.(d, base, 0);
    this.deps.onFailure?.('secret-exfiltration');
    const rpc = (kind === 'mcp' || kind === 'a2a') && parsed !== undefined ? parseJsonRpcBody(parsed.value) : undefined;
    if (rpc !== undefined) return rpcDeny(rpc, d);
    if (kind === 'model') return deny(403, JSON.stringify(providerError(this.api, 403, EXFILTRATION_MESSAGE, d.reason)), d);
    return deny(403, denialBody(d), d);
  }

  // --- JSON-RPC (MCP, A2A) ---

  /**
   * Every message is decided, in order; only denials up to the first one that stays denied are
   * reviewed (the body is refused then, so a later message's pass is not spent on it).
   */
  private rpcBody(dir: Direction, base: DecisionContext, rpc: JsonRpcBody, results: Outcome[] = [], from = 0): Maybe<BodyVerdict> {
    let denied = results.some((r) => r.kind === 'deny');
    for (let i = from; i < rpc.messages.length; i++) {
      const out = this.rpcOutcome(dir, base, rpc.messages[i] as JsonRpcMessage, !denied);
      if (out instanceof Promise) {
        return out.then((o) => {
          results.push(o);
          return this.rpcBody(dir, base, rpc, results, i + 1);
        });
      }
      results.push(out);
      denied ||= out.kind === 'deny';
    }
    return this.rpcVerdict(dir, rpc, results);
  }

  private rpcVerdict(dir: Direction, rpc: JsonRpcBody, results: readonly Outcome[]): BodyVerdict {
    const denied = results.find((r) => r.kind === 'deny');
    if (denied !== undefined && denied.kind === 'deny') return rpcDeny(rpc, denied.decision);
    if (dir === 'request') this.rememberPasses(rpc, results);
    const changed = results.some((r) => r.kind === 'pass' && r.changed);
    const decision = results.find((r) => r.kind === 'pass' && r.changed)?.decision;
    const headers = annotated(dir, decision, mergeHeaders(results), separateFindings(results));
    if (!changed) return headers !== undefined ? { kind: 'continue', headers } : { kind: 'continue' };
    const payloads = results.map((r) => (r.kind === 'pass' ? r.payload : undefined));
    const out = Buffer.from(JSON.stringify(rpc.batch ? payloads : payloads[0]), 'utf8');
    return { kind: 'replace', body: out, ...(headers !== undefined ? { headers } : {}) };
  }

  /** A request's passes by the id its answer will carry; an id sent twice in one body gets none. */
  private rememberPasses(rpc: JsonRpcBody, results: readonly Outcome[]): void {
    const ids = rpc.messages.map((m) => (m.method !== undefined ? m.id : undefined));
    results.forEach((r, i) => {
      const id = ids[i];
      if (r.kind !== 'pass' || r.passes === undefined || id === undefined) return;
      if (ids.indexOf(id) === ids.lastIndexOf(id)) this.passes.set(id, r.passes);
    });
  }

  /** Passes covering an answer: what its request used (answers carry the request's id and no method). */
  private passesFor(msg: JsonRpcMessage): readonly Decision[] | undefined {
    return msg.method === undefined && msg.id !== undefined ? this.passes.get(msg.id) : undefined;
  }

  private rpcOutcome(dir: Direction, base: DecisionContext, msg: JsonRpcMessage, review: false): Outcome;
  private rpcOutcome(dir: Direction, base: DecisionContext, msg: JsonRpcMessage, review: boolean): Maybe<Outcome>;
  private rpcOutcome(dir: Direction, base: DecisionContext, msg: JsonRpcMessage, review: boolean): Maybe<Outcome> {
    const server = this.server(base);
    if (this.kind === 'a2a') {
      const method = msg.method ?? (msg.id !== undefined ? this.calls.get(msg.id)?.method : undefined);
      if (dir === 'request' && msg.method !== undefined && msg.id !== undefined) this.calls.set(msg.id, { method: msg.method });
      return this.decideChain([a2aContext(base, server, msg, dir === 'request' ? 'outbound' : 'inbound', method)], review, dir === 'response' ? this.passesFor(msg) : undefined);
    }
    if (dir === 'request') {
      const rec = mcpCallRecord(msg);
      if (rec !== undefined && msg.id !== undefined) this.calls.set(msg.id, rec);
      return this.decideChain(mcpRequestContexts(base, server, msg, this.sideEffect()), review);
    }
    const contexts = mcpResponseContexts(base, server, msg, this.calls, this.sideEffect());
    const call = msg.id !== undefined && msg.method === undefined ? this.calls.get(msg.id) : undefined;
    if (call?.method === 'tools/list' && msg.result !== undefined && this.deps.pins !== undefined) {
      const drift = this.deps.pins.observe(server, listedTools(msg.result), this.pinScope(base));
      if (drift !== undefined) for (const c of contexts) c.mcp = { ...c.mcp, toolDrift: drift };
    }
    return this.decideChain(contexts, review, this.passesFor(msg));
  }

  private pinScope(base: DecisionContext): string {
    return base.tenant ?? '';
  }

  // --- model APIs ---

  private modelBody(dir: Direction, base: DecisionContext, value: unknown): Maybe<BodyVerdict> {
    return then(this.modelOutcome(dir, base, value, true), (out) => this.modelVerdict(dir, out));
  }

  private modelVerdict(dir: Direction, out: Outcome): BodyVerdict {
    if (dir === 'request' && out.kind === 'pass' && out.passes !== undefined) this.modelPasses = out.passes;
    if (out.kind === 'deny') {
      const d = out.decision;
      const status = d.status ?? 403;
      return deny(status, JSON.stringify(providerError(this.api, status, d.message ?? 'denied by policy', d.reason)), d);
    }
    const headers = annotated(dir, out.changed ? out.decision : undefined, out.headers, out.found);
    if (!out.changed) return headers !== undefined ? { kind: 'continue', headers } : { kind: 'continue' };
    return { kind: 'replace', body: Buffer.from(JSON.stringify(out.payload), 'utf8'), ...(headers !== undefined ? { headers } : {}) };
  }

  private modelOutcome(dir: Direction, base: DecisionContext, value: unknown, review: false): Outcome;
  private modelOutcome(dir: Direction, base: DecisionContext, value: unknown, review: boolean): Maybe<Outcome>;
  private modelOutcome(dir: Direction, base: DecisionContext, value: unknown, review: boolean): Maybe<Outcome> {
    const provider = base.model?.provider ?? base.destination?.host;
    const model: NonNullable<DecisionContext['model']> = { ...(provider !== undefined ? { provider } : {}), ...(this.modelName !== undefined ? { name: this.modelName } : {}) };
    if (dir === 'request' || this.api === undefined) return this.decideChain([{ ...base, hook: 'message', model, payload: value }], review);
    const read = readModelOutput(this.api, value);
    if (read.usage !== undefined) model.usage = read.usage;
    if (read.toolCalls.length > 0) model.toolCalls = read.toolCalls;
    const contexts: DecisionContext[] = [{ ...base, hook: 'message', model, payload: value }];
    // A tool call the model asks for is decided like the call itself, before the agent makes it.
    for (const call of read.toolCalls) contexts.push({ ...base, hook: 'toolCallRequest', model, tool: { name: call.name, ...(call.arguments !== undefined ? { arguments: call.arguments } : {}) }, payload: value });
    return this.decideChain(contexts, review, this.modelPasses);
  }

  // --- plain HTTP ---

  private plainBody(base: DecisionContext, payload: unknown, complete: boolean): Maybe<BodyVerdict> {
    return then(this.decideChain([{ ...base, payload }], true), (out) => this.plainVerdict(out, complete));
  }

  private plainVerdict(out: Outcome, complete: boolean): BodyVerdict {
    if (out.kind === 'deny') return deny(out.decision.status ?? 403, denialBody(out.decision), out.decision);
    const headers = annotated('request', undefined, out.headers, out.found);
    if (!out.changed) return headers !== undefined ? { kind: 'continue', headers } : { kind: 'continue' };
    if (!complete) {
      // The rest of a BUFFERED_PARTIAL body passes unseen: a redaction cannot be applied to it.
      const d = out.decision;
      return deny(403, JSON.stringify({ error: 'a policy redacts this body, but only its first part could be inspected', reason: 'partial-body-modification', decisionId: d?.decisionId }), d);
    }
    const body = typeof out.payload === 'string' ? out.payload : JSON.stringify(out.payload);
    return { kind: 'replace', body: Buffer.from(body, 'utf8'), ...(headers !== undefined ? { headers } : {}) };
  }

  // --- event streams answered as a whole (BUFFERED without a mode override) ---

  private wholeEventStream(ex: Exchange, text: string): BodyVerdict {
    let out = '';
    let changed = false;
    for (const ev of splitSseEvents(text)) {
      const v = this.event('response', ex, ev);
      if (v.kind === 'keep') out += ev;
      else {
        changed = true;
        out += v.text;
        if (v.kind === 'stop') break;
      }
    }
    return changed ? { kind: 'replace', body: Buffer.from(out, 'utf8') } : { kind: 'continue' };
  }

  /**
   * Decides the contexts of one payload in order, each seeing the payload as the previous one
   * left it: the first deny wins, redactions accumulate, annotations merge (same data). With
   * `review`, a rule's denial is first shown to the grants: a promise then, resuming the chain
   * after an allow (a pass used) and ending it on a denial.
   */
  private decideChain(contexts: readonly DecisionContext[], review: false, passes?: readonly Decision[]): Outcome;
  private decideChain(contexts: readonly DecisionContext[], review: boolean, passes?: readonly Decision[]): Maybe<Outcome>;
  private decideChain(contexts: readonly DecisionContext[], review: boolean, passes?: readonly Decision[]): Maybe<Outcome> {
    const state: ChainState = { payload: contexts[0]?.payload, changed: false, first: undefined, headers: undefined, found: undefined, passes: passes === undefined ? [] : [...passes] };
    return this.runChain(contexts, 0, state, review ? this.deps.authorizer.grants : undefined);
  }

  private runChain(contexts: readonly DecisionContext[], from: number, s: ChainState, grants: Authorizer['grants']): Maybe<Outcome> {
    const engine = this.deps.authorizer.engine();
    for (let i = from; i < contexts.length; i++) {
      const ctx = contexts[i] as DecisionContext;
      const c = s.changed ? { ...ctx, payload: s.payload } : ctx;
      const t0 = process.hrtime.bigint();
      let d = engine.evaluate(c);
      if (d.decision === 'deny') {
        const denied = d;
        const covered = firstOf(s.passes, (p) => coveredByPass(p, denied));
        const reviewed = covered ?? (grants === undefined ? d : this.bounded(grants.review(c, d), d));
        if (reviewed instanceof Promise) {
          const next = i + 1;
          return reviewed.then((r) => {
            this.report(r, c, t0);
            if (r.decision === 'deny') return { kind: 'deny', decision: r };
            s.passes.push(r);
            this.gather(s, r);
            return this.runChain(contexts, next, s, grants);
          });
        }
        d = reviewed;
        if (d.decision !== 'deny' && covered === undefined) s.passes.push(d);
      }
      this.report(d, c, t0);
      if (d.decision === 'deny') return { kind: 'deny', decision: d };
      this.gather(s, d);
    }
    const out: Outcome = { kind: 'pass', decision: s.first, payload: s.payload, changed: s.changed };
    if (s.headers !== undefined) out.headers = s.headers;
    if (s.found !== undefined) out.found = s.found;
    if (s.passes.length > 0) out.passes = s.passes;
    return out;
  }

  /** A lookup that takes too long leaves the denial standing, with the fail-closed message. */
  private bounded(reviewed: Maybe<Decision>, d: Decision): Maybe<Decision> {
    if (!(reviewed instanceof Promise)) return reviewed;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Decision>((resolve) => {
      timer = setTimeout(() => resolve(storeDown(d)), this.deps.grantLookupTimeoutMs ?? GRANT_LOOKUP_TIMEOUT_MS);
      timer.unref();
    });
    return Promise.race([reviewed, late]).finally(() => clearTimeout(timer));
  }

  private report(d: Decision, ctx: DecisionContext, t0: bigint): void {
    this.deps.onDecision?.(d, ctx, Number(process.hrtime.bigint() - t0) / 1e9);
  }

  /** Adds what a passing decision changed or found to the chain's outcome. */
  private gather(s: ChainState, d: Decision): void {
    if (d.decision === 'modify') {
      if (d.modifiedRequest?.payload !== undefined) {
        s.payload = d.modifiedRequest.payload;
        s.changed = true;
      }
      const h = d.modifiedRequest?.headers;
      if (h !== undefined) s.headers = { set: { ...s.headers?.set, ...h.set }, remove: [...(s.headers?.remove ?? []), ...h.remove] };
    }
    s.first ??= d;
    if (d.findings !== undefined) s.found = { types: s.found === undefined ? d.findings.types : mergeSameData([s.found.types, d.findings.types]), decisionId: s.found?.decisionId ?? d.decisionId };
  }
}

function firstOf<T, U>(items: readonly T[], f: (t: T) => U | undefined): U | undefined {
  for (const t of items) {
    const u = f(t);
    if (u !== undefined) return u;
  }
  return undefined;
}

function parseJson(text: string): { value: unknown } | undefined {
  const t = text.trimStart();
  if (t[0] !== '{' && t[0] !== '[' && t[0] !== '"') return undefined;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function hasModelShape(v: unknown): boolean {
  return typeof v === 'object' && v !== null && ('model' in v || 'contents' in v || 'messages' in v || 'input' in v);
}

function withData(ev: SseEvent, value: unknown): SseEvent {
  return { ...ev, data: JSON.stringify(value) };
}

/** The whole body is refused; every request in it gets an error with its own id. */
function rpcDeny(rpc: JsonRpcBody, d: Decision): BodyVerdict {
  const errors = rpc.messages.filter((m) => m.id !== undefined || !rpc.batch).map((m) => rpcDenial(m, d));
  const body = rpc.batch ? errors : errors[0];
  const onlyNotifications = rpc.messages.every((m) => m.id === undefined && m.method !== undefined);
  return deny(onlyNotifications ? (d.status ?? 403) : 200, JSON.stringify(body), d);
}

function rpcDenial(msg: JsonRpcMessage, d: Decision): Record<string, unknown> {
  return jsonRpcError(msg.id, d.message ?? `denied by policy: ${d.reason}`, { reason: d.reason, policyId: d.policyId, ruleId: d.ruleId, decisionId: d.decisionId, ...(d.pending ? { pending: d.pending } : {}) });
}

function deny(status: number, body: string, d: Decision | undefined): BodyVerdict {
  const headers: Record<string, string> = { ...JSON_HEADERS, ...(d !== undefined ? { [DECISION_HEADER]: d.decisionId } : {}) };
  const reply: LocalReply = { status, headers, body: Buffer.from(body, 'utf8'), details: 'joch_ext_proc_denied' };
  return { kind: 'deny', reply };
}

function mergeHeaders(results: readonly Outcome[]): HeaderChanges | undefined {
  let set: Record<string, string> | undefined;
  let remove: string[] | undefined;
  for (const r of results) {
    if (r.kind !== 'pass' || r.headers === undefined) continue;
    set = { ...set, ...r.headers.set };
    remove = [...(remove ?? []), ...(r.headers.remove ?? [])];
  }
  return set === undefined && remove === undefined ? undefined : { ...(set !== undefined ? { set } : {}), ...(remove !== undefined ? { remove } : {}) };
}

/** Annotations of the messages of one body (a JSON-RPC batch): different data, so counts add up. */
function separateFindings(results: readonly Outcome[]): Annotation | undefined {
  const found = results.flatMap((r) => (r.kind === 'pass' && r.found !== undefined ? [r.found] : []));
  if (found.length <= 1) return found[0];
  return { types: mergeSeparateData(found.map((f) => f.types)), decisionId: (found[0] as Annotation).decisionId };
}

/**
 * The header changes of a body verdict. Requests carry the policies' header changes and, when
 * annotate rules found something, x-joch-findings to the upstream; answers carry the decision
 * id of a modify or of the annotation, and x-joch-findings, back to the agent.
 */
function annotated(dir: Direction, modified: Decision | undefined, policyHeaders: HeaderChanges | undefined, found: Annotation | undefined): HeaderChanges | undefined {
  const own = dir === 'request' ? policyHeaders : undefined;
  const decisionId = dir === 'response' ? (modified?.decisionId ?? found?.decisionId) : undefined;
  if (found === undefined && decisionId === undefined) return own;
  const set: Record<string, string> = { ...own?.set };
  if (found !== undefined) set[FINDINGS_HEADER] = findingsHeaderValue(found.types);
  if (decisionId !== undefined) set[DECISION_HEADER] = decisionId;
  return { ...own, set };
}

/**
 * An event whose headers have long left: annotations travel as an SSE comment line at the
 * start of the event (`: x-joch-findings: …`), which every event-stream client ignores.
 */
function annotatedEvent(text: string, changed: boolean, found: Annotation | undefined): EventVerdict {
  if (found === undefined) return changed ? { kind: 'replace', text } : { kind: 'keep' };
  return { kind: 'replace', text: `: ${FINDINGS_HEADER}: ${findingsHeaderValue(found.types)}\n${text}` };
}
